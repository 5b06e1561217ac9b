#!/usr/bin/env bash
# Soak: one night of CALLS calls (default 50,000) against the simulator with every fault on at
# once (--chaos: 20% 429 half with Retry-After, 5% 5xx, 1% connection resets, 1% truncated
# bodies, 1% HTML pages, 0.5% slow answers), compared with the same night on a clean simulator.
# It passes when the faulty run lands exactly the clean run's calls (each once) and writes the
# same report, numbers file and ledger. Loopback only; takes a few minutes in release mode.
#
#   scripts/soak.sh [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-50000}
day=2026-01-14
next=2026-01-15
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --quiet
bin=target/release/callrecon

# Starts a simulator in the background; prints its port once it listens.
start_sim() { # name, extra flags…
  local name=$1; shift
  "$bin" simulate --calls "$calls" --seed 9 --start-day "$day" --ledger-out "$work/$name.db" "$@" \
    > "$work/$name.sim" 2>&1 &
  for _ in $(seq 600); do
    if grep -q '^listening on ' "$work/$name.sim" 2>/dev/null; then
      sed -n 's/^listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/$name.sim" | head -1
      return
    fi
    sleep 0.1
  done
  echo "soak: the $name simulator did not start" >&2; cat "$work/$name.sim" >&2; exit 1
}

run_night() { # name, port, extra flags…
  local name=$1 port=$2; shift 2
  TWILIO_ACCOUNT_SID=$(sed -n 's/^account sid: *\([A-Za-z0-9]*\).*/\1/p' "$work/$name.sim") \
  TWILIO_AUTH_TOKEN=$(sed -n 's/^auth token: *\([A-Za-z0-9]*\).*/\1/p' "$work/$name.sim") \
  "$bin" run --base-url "http://127.0.0.1:$port" --db "$work/$name.db" \
    --from "${day}T00:00:00Z" --to "${next}T00:00:00Z" --now "${next}T00:00:00Z" \
    --rps 1000 --max-in-flight 4 --out "$work/$name.csv" --numbers-out "$work/$name.numbers.csv" "$@" \
    2> "$work/$name.log"
}

landed() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*), count(distinct sid) from recon_calls").fetchone())' "$1"; }
ledger() { python3 -c 'import sqlite3,sys; [print(r) for r in sqlite3.connect(sys.argv[1]).execute("select * from intended_calls order by id")]' "$1"; }

clean_port=$(start_sim clean)
chaos_port=$(start_sim chaos --chaos --fault-seed 7)
start=$(date +%s)
run_night clean "$clean_port"
mid=$(date +%s)
run_night chaos "$chaos_port" --timeout 3 --max-attempts 12
end=$(date +%s)

echo "clean run: $((mid - start)) s; chaos run: $((end - mid)) s"
grep -E 'fetched|request\(s\)' "$work/chaos.log" | sed 's/^/chaos: /'
curl -s "http://127.0.0.1:$chaos_port/__simulator/stats" 2>/dev/null | sed 's/^/simulator: /' || true
echo
fail=0
[ "$(landed "$work/clean.db")" = "$(landed "$work/chaos.db")" ] || { echo "soak: landed calls differ: $(landed "$work/clean.db") vs $(landed "$work/chaos.db")"; fail=1; }
cmp -s "$work/clean.csv" "$work/chaos.csv" || { echo "soak: the reports differ"; fail=1; }
cmp -s "$work/clean.numbers.csv" "$work/chaos.numbers.csv" || { echo "soak: the numbers files differ"; fail=1; }
cmp -s <(ledger "$work/clean.db") <(ledger "$work/chaos.db") || { echo "soak: the ledgers differ"; fail=1; }
if [ "$fail" = 0 ]; then
  echo "soak: PASS — $(landed "$work/chaos.db") (calls, distinct sids) landed under every fault, same report, numbers and ledger as a clean run"
else
  echo "soak: FAIL"; tail -20 "$work/chaos.log"; exit 1
fi
