#!/usr/bin/env bash
# callrecon's benchmark: fetch (vs. the lower bound and Twilio's Python SDK), reconcile (vs.
# the sqlite3 shell) and landing, on this machine, in one run. Prints one table and writes it
# to BENCHMARKS.md with the machine's cores, the date and the commit. See bench/README.md.
#
#   bench/run.sh            # full: 100,000 calls to fetch, 1,000,000 rows to reconcile
#   bench/run.sh --quick    # everything 10x smaller, a smoke run; writes
#                           # target/bench/BENCHMARKS.quick.md, never BENCHMARKS.md
#
# Installs what it needs: twilio into a venv at target/bench-venv (PyPI), and the Debian
# packages sqlite3, time and python3-venv when missing (apt-get, as root). Loopback only
# otherwise. Targets are printed beside the measurements, never asserted: the script exits 0
# whenever every measurement ran, met or not; non-zero when one could not run.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick=0
case "${1:-}" in
  --quick) quick=1 ;;
  "") ;;
  *) echo "usage: bench/run.sh [--quick]" >&2; exit 2 ;;
esac

# --- scale ------------------------------------------------------------------------------
fetch_calls=100000      # one day of calls listed by callrecon and by the SDK
recon_rows=1000000      # ledger rows, and landed calls, reconciled
landing_calls=200000    # calls decoded and landed by benches/landing.rs
if [ "$quick" = 1 ]; then
  fetch_calls=$((fetch_calls / 10)); recon_rows=$((recon_rows / 10)); landing_calls=$((landing_calls / 10))
fi
latency_ms=200          # per page, as Twilio's listing takes hundreds of ms
per_record_us=50        # per record served: 50 ms more for a page of 1000
concurrency=8           # the simulated account's limit (--max-concurrent) and callrecon's --max-in-flight
day=2026-01-14
next=2026-01-15
from="${day}T00:00:00Z"
to="${next}T00:00:00Z"

work=$(mktemp -d "${TMPDIR:-/tmp}/callrecon-bench.XXXXXX")
results="$work/results.env"
sims=()
cleanup() {
  for pid in "${sims[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { echo "bench: $*" >&2; }
record() { echo "$1=$2" >> "$results"; }   # key, value (no spaces in keys)
failed=0

# --- what it needs ---------------------------------------------------------------------
apt_install() { # package…
  say "installing $* (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}
command -v sqlite3 >/dev/null || apt_install sqlite3 || { say "cannot install sqlite3"; exit 1; }
[ -x /usr/bin/time ] || apt_install time || { say "cannot install time"; exit 1; }
command -v python3 >/dev/null || apt_install python3 || { say "cannot install python3"; exit 1; }
venv=target/bench-venv
if ! "$venv/bin/python" -c 'import twilio' 2>/dev/null; then
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && rm -rf "$venv" && python3 -m venv "$venv"; } ||
    { say "cannot create a venv"; exit 1; }
  say "installing twilio into $venv (pip)"
  "$venv/bin/pip" install -q twilio || { say "pip install twilio failed"; exit 1; }
fi

say "building (release, and the landing bench)"
cargo build --release --quiet || { say "cargo build --release failed"; exit 1; }
cargo bench --bench landing --no-run --quiet || { say "building benches/landing.rs failed"; exit 1; }
# A private copy: others may rebuild target/release while the benchmark runs.
bin="$work/callrecon"
cp target/release/callrecon "$bin"

{
  echo "mode=$([ "$quick" = 1 ] && echo quick || echo full)"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  echo "dirty_files=$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)"
  echo "cores=$(nproc)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1 | tr ' ' '_')"
  echo "mem_gb=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)"
  echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')"
  echo "rustc=$(rustc -V | cut -d' ' -f2)"
  echo "sqlite3_shell=$(sqlite3 --version | cut -d' ' -f1)"
  echo "python=$("$venv/bin/python" -c 'import platform; print(platform.python_version())')"
  echo "twilio=$("$venv/bin/python" -c 'import twilio; print(twilio.__version__)')"
  echo "fetch_calls=$fetch_calls"
  echo "recon_rows=$recon_rows"
  echo "landing_calls=$landing_calls"
  echo "latency_ms=$latency_ms"
  echo "per_record_us=$per_record_us"
  echo "concurrency=$concurrency"
} > "$results"

# --- simulators ------------------------------------------------------------------------
# Starts a fresh simulator (clean counters) for one measurement; sets sim_pid, sim_port,
# sim_out.
start_sim() { # name, time filter, extra flags…
  local name=$1 mode=$2; shift 2
  sim_out="$work/$name.sim"
  "$bin" simulate --calls "$fetch_calls" --seed 9 --start-day "$day" --days 1 \
    --latency-ms "$latency_ms" --per-record-us "$per_record_us" --max-concurrent "$concurrency" \
    --time-filter "$mode" "$@" > "$sim_out" 2>&1 &
  sim_pid=$!
  sims+=("$sim_pid")
  for _ in $(seq 1200); do
    if grep -q '^listening on ' "$sim_out" 2>/dev/null; then
      sim_port=$(sed -n 's/^listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$sim_out" | head -1)
      return 0
    fi
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
  done
  say "the $name simulator did not start"; cat "$sim_out" >&2
  return 1
}

stop_sim() {
  kill "$sim_pid" 2>/dev/null || true
  wait "$sim_pid" 2>/dev/null || true
}

sim_field() { sed -n "s/^$1: *\([^ ]*\).*/\1/p" "$sim_out" | head -1; }

# The simulator's counters: `requests responses_429 calls_served max_in_flight`.
sim_stats() {
  python3 - "$sim_port" <<'EOF'
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/__simulator/stats"))
print(s["requests"], s["responses_429"], s["calls_served"], s["max_in_flight"])
EOF
}

# Records PREFIX_requests and PREFIX_429: the simulator's counters after a run minus before.
record_requests() { # prefix, stats before, stats after
  local req0 r0 req1 r1
  read -r req0 r0 _ _ <<< "$2"
  read -r req1 r1 _ _ <<< "$3"
  record "$1_requests" "$((req1 - req0))"
  record "$1_429" "$((r1 - r0))"
}

# --- fetch -----------------------------------------------------------------------------
fetch_callrecon() { # time filter
  local mode=$1 db="$work/fetch-$1.db"
  start_sim "fetch-$mode" "$mode" --ledger-out "$db" || return 1
  # callrecon's tables and ledger indexes, as a nightly run finds them: creating them is a
  # one-time migration, not part of a night's fetch.
  "$bin" ledger init --db "$db" > /dev/null 2>&1 || { say "callrecon ledger init failed on $db"; return 1; }
  local records sim_now before after t0 t1 rc
  records=$(sim_field calls)
  sim_now=$(sim_field now)
  before=$(sim_stats)
  say "fetch ($mode filters): callrecon lists $records calls"
  t0=$EPOCHREALTIME
  TWILIO_ACCOUNT_SID=$(sim_field 'account sid') TWILIO_AUTH_TOKEN=$(sim_field 'auth token') \
    "$bin" fetch --base-url "http://127.0.0.1:$sim_port" --db "$db" --from "$from" --to "$to" \
    --now "$sim_now" --rps 10000 --max-in-flight "$concurrency" \
    --max-notification-lookups 0 --max-sid-lookups 0 2> "$work/fetch-$mode.log"
  rc=$?
  t1=$EPOCHREALTIME
  after=$(sim_stats)
  stop_sim
  if [ "$rc" != 0 ]; then
    say "callrecon fetch ($mode) failed with exit $rc:"; tail -5 "$work/fetch-$mode.log" >&2
    return 1
  fi
  read -r _ _ served max_in_flight <<< "$after"
  record "fetch_${mode}_records" "$records"
  record "fetch_${mode}_seconds" "$(python3 -c "print(f'{$t1 - $t0:.3f}')")"
  record_requests "fetch_${mode}" "$before" "$after"
  record "fetch_${mode}_calls_served" "$served"
  record "fetch_${mode}_max_in_flight" "$max_in_flight"
  record "fetch_${mode}_landed" "$(sqlite3 "$db" 'SELECT count(*) FROM recon_calls')"
  record "fetch_${mode}_summary" "$(grep -m1 -o 'fetched .*' "$work/fetch-$mode.log" | tr ' ' '_')"
  record "fetch_${mode}_alerts" "$(sqlite3 "$db" 'SELECT count(*) FROM recon_alerts')"
  if [ "$mode" = day ]; then
    # What the Status x caller-ID split allows: its partitions' pages (an empty partition
    # still costs a request), transient ones first, then the final ones.
    record fetch_day_split "$(python3 bench/split_bound.py "$db" "$(date -u -d "$from" +%s)" "$(date -u -d "$to" +%s)")"
  fi
}

fetch_sdk() { # time filter
  local mode=$1 out before after
  start_sim "sdk-$mode" "$mode" || return 1
  before=$(sim_stats)
  say "fetch ($mode filters): the Python SDK lists the same day"
  out=$("$venv/bin/python" bench/sdk_list.py "$sim_out" "$day" 2> "$work/sdk-$mode.log")
  local rc=$?
  after=$(sim_stats)
  stop_sim
  if [ "$rc" != 0 ]; then
    say "the SDK run ($mode) failed:"; tail -5 "$work/sdk-$mode.log" >&2
    return 1
  fi
  record "sdk_${mode}_records" "$(sed -n 's/.*records=\([0-9]*\).*/\1/p' <<< "$out")"
  record "sdk_${mode}_seconds" "$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<< "$out")"
  record_requests "sdk_${mode}" "$before" "$after"
}

for mode in second day; do
  fetch_callrecon "$mode" || { failed=1; record "fetch_${mode}_error" 1; }
  fetch_sdk "$mode" || { failed=1; record "sdk_${mode}_error" 1; }
done

# --- a whole night ---------------------------------------------------------------------
# `callrecon run` at its defaults (every lookup the night needs, within the default bounds),
# on a day of night_calls calls, against the simulator's own ledger; then the SDK script
# making the same requests one after another on an identical simulator.
night_run() { # tag, calls, max-in-flight ("" for the default)
  local tag=$1 calls=$2 inflight=$3 db="$work/night-$1.db" before after t0 t1 rc
  local saved=$fetch_calls
  fetch_calls=$calls
  start_sim "night-$tag" day --ledger-out "$db" || { fetch_calls=$saved; return 1; }
  fetch_calls=$saved
  "$bin" ledger init --db "$db" > /dev/null 2>&1 || { say "callrecon ledger init failed on $db"; return 1; }
  local sim_now; sim_now=$(sim_field now)
  before=$(sim_stats)
  say "night ($tag): callrecon run on $calls calls${inflight:+, --max-in-flight $inflight}"
  t0=$EPOCHREALTIME
  TWILIO_ACCOUNT_SID=$(sim_field 'account sid') TWILIO_AUTH_TOKEN=$(sim_field 'auth token') \
    /usr/bin/time -v "$bin" run --base-url "http://127.0.0.1:$sim_port" --db "$db" --from "$from" \
    --to "$to" --now "$sim_now" ${inflight:+--max-in-flight "$inflight"} \
    --out "$work/night-$tag.csv" 2> "$work/night-$tag.log"
  rc=$?
  t1=$EPOCHREALTIME
  after=$(sim_stats)
  stop_sim
  if [ "$rc" != 0 ]; then
    say "callrecon run ($tag) failed with exit $rc:"; tail -5 "$work/night-$tag.log" >&2
    return 1
  fi
  record "night_${tag}_calls" "$calls"
  record "night_${tag}_inflight" "${inflight:-4}"
  record "night_${tag}_seconds" "$(python3 -c "print(f'{$t1 - $t0:.3f}')")"
  record_requests "night_${tag}" "$before" "$after"
  record "night_${tag}_rss_mb" "$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$work/night-$tag.log" | awk '{printf "%.1f", $1 / 1024}')"
  record "night_${tag}_notifications" "$(sqlite3 "$db" 'SELECT count(*) FROM recon_lookups')"
  record "night_${tag}_sid_lookups" "$(sqlite3 "$db" 'SELECT (SELECT count(*) FROM recon_sid_lookups) + (SELECT count(*) FROM recon_unknown_sids)')"
  record "night_${tag}_over" "$(grep -o '[0-9]* call(s) without an error code of the window are over the bound' "$work/night-$tag.log" | cut -d' ' -f1 | head -1)"
  cp "$db" "$work/night-$tag.requests.db"
}

night_sdk() { # tag of the callrecon run whose requests it repeats, calls
  local tag=$1 calls=$2 out before after rc
  local saved=$fetch_calls
  fetch_calls=$calls
  start_sim "sdk-night" day || { fetch_calls=$saved; return 1; }
  fetch_calls=$saved
  before=$(sim_stats)
  say "night: the Python SDK script makes the same requests one after another (minutes)"
  out=$("$venv/bin/python" bench/sdk_night.py "$sim_out" "$day" "$work/night-$tag.requests.db" 2> "$work/sdk-night.log")
  rc=$?
  after=$(sim_stats)
  stop_sim
  if [ "$rc" != 0 ]; then
    say "the SDK night script failed:"; tail -5 "$work/sdk-night.log" >&2
    return 1
  fi
  record sdk_night_seconds "$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<< "$out")"
  record sdk_night_summary "$(tr ' ' '_' <<< "$out")"
  record_requests sdk_night "$before" "$after"
}

night_calls=20000
big_night_calls=$fetch_calls
if [ "$quick" = 1 ]; then night_calls=$((night_calls / 10)); fi
night_run n8 "$night_calls" "$concurrency" || { failed=1; record night_n8_error 1; }
night_sdk n8 "$night_calls" || { failed=1; record sdk_night_error 1; }
night_run n4 "$night_calls" "" || { failed=1; record night_n4_error 1; }
night_run big "$big_night_calls" "$concurrency" || { failed=1; record night_big_error 1; }

# --- reconcile -------------------------------------------------------------------------
reconcile() {
  local db="$work/reconcile.db" t0 t1 window_from window_to
  "$bin" ledger init --db "$db" > /dev/null 2>&1 || { say "callrecon ledger init failed on $db"; return 1; }
  say "reconcile: generating $recon_rows ledger rows and as many landed calls"
  t0=$EPOCHREALTIME
  python3 bench/gen_ledger.py --db "$db" --rows "$recon_rows" --day "$day" > "$work/gen.out" || return 1
  t1=$EPOCHREALTIME
  record gen_seconds "$(python3 -c "print(f'{$t1 - $t0:.1f}')")"
  record gen_summary "$(tr ' ' '_' < "$work/gen.out")"
  record db_mb "$(du -m "$db" | cut -f1)"
  window_from=$(date -u -d "$from" +%s)
  window_to=$(date -u -d "$to" +%s)
  sed -e "s/@FROM@/$window_from/g; s/@TO@/$window_to/g; s/@DELAY@/3600/g; s#@OUT@#$work/sqlite3.csv#g" \
    bench/reconcile.sql > "$work/reconcile.sql"

  say "reconcile: callrecon report"
  cat "$db" > /dev/null   # the same warm page cache for both
  /usr/bin/time -v "$bin" report --db "$db" --from "$from" --to "$to" --now "$to" \
    --no-write-back --out "$work/report.csv" 2> "$work/report.log" ||
    { say "callrecon report failed:"; tail -5 "$work/report.log" >&2; return 1; }
  say "reconcile: the sqlite3 shell"
  cat "$db" > /dev/null
  /usr/bin/time -v sqlite3 "$db" < "$work/reconcile.sql" 2> "$work/sqlite3.log" ||
    { say "sqlite3 failed:"; tail -5 "$work/sqlite3.log" >&2; return 1; }

  for who in report sqlite3; do
    record "${who}_seconds" "$(python3 - "$work/$who.log" <<'EOF'
import re, sys
t = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", open(sys.argv[1]).read()).group(1)
s = 0.0
for part in t.split(":"):
    s = s * 60 + float(part)
print(f"{s:.2f}")
EOF
)"
    record "${who}_rss_mb" "$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$work/$who.log" | awk '{printf "%.1f", $1 / 1024}')"
  done
  record report_summary "$(grep -m1 -o '[0-9]* ledger row(s) in the window.*' "$work/report.log" | tr ' ' '_')"
  # How far the SQL's answer is from the report's: rows, and rows whose call differs.
  record agreement "$(python3 - "$work/report.csv" "$work/sqlite3.csv" <<'EOF'
import csv, sys
a = {r["ledger_id"]: r["call_sid"] for r in csv.DictReader(open(sys.argv[1]))}
b = {r["ledger_id"]: r["call_sid"] for r in csv.DictReader(open(sys.argv[2]))}
both = a.keys() & b.keys()
same = sum(1 for k in both if a[k] == b[k])
print(f"{len(a)}/{len(b)}/{same}")
EOF
)"
}
reconcile || { failed=1; record reconcile_error 1; }

# --- landing ---------------------------------------------------------------------------
say "landing: cargo bench --bench landing ($landing_calls calls)"
if cargo bench --quiet --bench landing -- --calls "$landing_calls" --runs 3 > "$work/landing.out" 2> "$work/landing.log"; then
  line=$(grep '^landing:' "$work/landing.out")
  for key in calls seconds calls_per_s decode_per_s land_per_s stage_per_s merge_per_s floor_per_s written_mb; do
    record "landing_$key" "$(sed -n "s/.* $key=\([0-9.?]*\).*/\1/p" <<< "$line")"
  done
  sed 's/^/bench: landing: /' "$work/landing.out" >&2
else
  say "the landing bench failed:"; tail -5 "$work/landing.log" >&2
  failed=1; record landing_error 1
fi

# --- the table -------------------------------------------------------------------------
record load_end "$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')"
if [ "$quick" = 1 ]; then
  mkdir -p target/bench
  out=target/bench/BENCHMARKS.quick.md
else
  out=BENCHMARKS.md
fi
python3 bench/table.py "$results" "$out" || failed=1
say "written to $out"
# The run's small files (results, logs, the simulators' banners) for a look afterwards.
rm -rf target/bench/last-run && mkdir -p target/bench/last-run &&
  cp "$work"/*.env "$work"/*.log "$work"/*.sim "$work"/*.out target/bench/last-run/ 2>/dev/null
say "logs of this run in target/bench/last-run/"
exit "$failed"
