#!/usr/bin/env python3
"""Generates the reconcile benchmark's database: ROWS ledger rows in `intended_calls` and as
many landed calls in `recon_calls` over one UTC day, plus the `recon_days` rows that let
`callrecon report` accept the window. The file must already have callrecon's schema
(`callrecon ledger init --db FILE`). Deterministic for a given seed.

    gen_ledger.py --db FILE --rows N --day YYYY-MM-DD [--seed S]

The shape (see bench/README.md):
- intended_at spread over the day, ids in time order, written in five RFC 3339 forms the
  ledger contract allows (Z, Z with milliseconds, -05:00, +01:00, SQLite's `YYYY-MM-DD
  HH:MM:SS`);
- destinations drawn from a pool of 0.4 x ROWS numbers (so numbers recur, as retries and
  repeat customers do), written E.164 (80%), `(NPA) NXX-XXXX` (12%) or `NPA-NXX-XXXX` (8%);
  synthetic NANP numbers on the 555 exchange of 64 area codes;
- 85% of rows carry their call's SID; ~2% have a create-time error code and no call; 0.3%
  have neither (never placed); the rest have a call but no SID, created 0-20 s after
  intended_at (some up to 50 min later, some up to 60 s earlier: clock skew) and must be found
  by the heuristic;
- call statuses: completed 72%, no-answer 11%, busy 6%, failed 7%, canceled 2%, the rest
  still queued, ringing or in progress near the end of the day; webhook columns mostly agree,
  some missing, stale or disagreeing;
- the calls table is topped up to ROWS calls with orphans (inbound calls to the caller IDs,
  duplicated outbound calls).
"""

import argparse
import calendar
import datetime as dt
import random
import sqlite3
import time

ACCOUNT = "ACc0ffee00c0ffee00c0ffee00c0ffee00"
CALLER_IDS = ["+12125550100", "+13125550100", "+12135550100", "+13055550100"]
CALLER_WEIGHTS = [40, 30, 20, 10]
# The simulator's area codes (src/simulator/numbers.rs), which libphonenumber accepts.
NPAS = [
    201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224,
    225, 228, 229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270,
    276, 281, 301, 302, 303, 304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318,
    319, 320, 321, 323, 330, 334, 336, 337, 339, 347,
]
CREATE_ERRORS = [21211, 21214, 21215, 21217, 13224, 21610]
FAILED_CODES = [13224, 13225, 13227, 31005, 32009, 13223]
SIP_FOR = {"failed": [404, 480, 503, 603, 484], "busy": [486, 600], "no-answer": [408, 487]}
FINAL = ["completed", "no-answer", "busy", "failed", "canceled"]
FINAL_WEIGHTS = [72, 11, 6, 7, 2]


def args():
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--day", required=True)
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args()


def main():
    a = args()
    rng = random.Random(a.seed)
    day = dt.date.fromisoformat(a.day)
    t0 = calendar.timegm(day.timetuple())
    t_end = t0 + 86400
    n = a.rows

    pool_size = max(1000, int(n * 0.4))
    pool = [
        f"+1{NPAS[k // 10000]}555{k % 10000:04d}"
        for k in rng.sample(range(len(NPAS) * 10000), min(pool_size, len(NPAS) * 10000))
    ]
    pool = [p for p in pool if p not in CALLER_IDS]
    times = sorted(rng.randrange(t0, t_end) for _ in range(n))

    def sid():
        return "CA%032x" % rng.getrandbits(128)

    def written_number(e164):
        r = rng.random()
        npa, nxx, line = e164[2:5], e164[5:8], e164[8:]
        if r < 0.80:
            return e164
        if r < 0.92:
            return f"({npa}) {nxx}-{line}"
        return f"{npa}-{nxx}-{line}"

    def written_time(ts):
        r = rng.random()
        u = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
        if r < 0.50:
            return u.strftime("%Y-%m-%dT%H:%M:%SZ")
        if r < 0.70:
            return u.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % rng.randrange(1000)
        if r < 0.85:
            return (u - dt.timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S-05:00")
        if r < 0.90:
            return (u + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00")
        return u.strftime("%Y-%m-%d %H:%M:%S")

    def status_at(created):
        # Calls in the last minutes before the clock (the end of the day) are still live.
        age = t_end - created
        if age < 120:
            return rng.choice(["queued", "ringing", "in-progress"])
        if age < 900 and rng.random() < 0.3:
            return "in-progress"
        return rng.choices(FINAL, FINAL_WEIGHTS)[0]

    def call_row(call_sid, to, frm, created, status, direction="outbound-api"):
        start = end = None
        duration = price = None
        unit = "USD"
        if status == "completed":
            start = created + rng.randrange(1, 4)
            length = rng.randrange(5, 600)
            end = start + length
            duration = str(length)
            price = "-%.5f" % (0.014 * ((length + 59) // 60)) if rng.random() < 0.97 else None
        elif status in ("no-answer", "busy"):
            start = created + 1
            end = start + (rng.randrange(20, 60) if status == "no-answer" else 2)
            duration, price = "0", "0.00000"
        elif status == "failed":
            start, end, duration, price = created, created + 1, "0", "0.00000"
        elif status == "canceled":
            duration = "0"
        elif status == "in-progress":
            start = created + 2
        updated = (end or start or created) + rng.randrange(0, 3)
        to_norm = to
        from_norm = frm
        answered = "human" if status == "completed" and rng.random() < 0.1 else None
        return (
            call_sid, ACCOUNT, None, direction, frm, to, from_norm, to_norm, status, created,
            updated, start, end, start if start is not None else created, duration, price,
            unit, answered, t_end,
        )

    ledger = []
    calls = []
    for i, ts in enumerate(times, start=1):
        to = rng.choice(pool)
        frm = rng.choices(CALLER_IDS, CALLER_WEIGHTS)[0]
        r = rng.random()
        call_sid = create_code = hook = hook_code = sip = None
        if r < 0.02:
            create_code = rng.choice(CREATE_ERRORS)
        elif r < 0.023:
            pass  # never placed: the application crashed before asking Twilio
        else:
            if r < 0.873:
                call_sid = sid()
                created = ts + rng.randrange(0, 3)
                csid = call_sid
            else:
                s = rng.random()
                if s < 0.05:
                    created = ts + rng.randrange(60, 3000)  # queued long at the application
                elif s < 0.07:
                    created = ts - rng.randrange(1, 60)  # clocks apart
                else:
                    created = ts + rng.randrange(0, 20)
                csid = sid()
            status = status_at(created)
            calls.append(call_row(csid, to, frm, created, status))
            h = rng.random()
            if h < 0.88:
                hook = status if status in FINAL else rng.choice(["initiated", "ringing"])
            elif h < 0.95:
                hook = None  # the webhook never arrived
            elif h < 0.98:
                hook = rng.choice(["initiated", "ringing", "in-progress"])  # stale
            else:
                hook = rng.choice(FINAL)  # disagrees with Twilio, sometimes
            if hook == "failed" and rng.random() < 0.5:
                hook_code = rng.choice(FAILED_CODES)
            if hook in SIP_FOR and rng.random() < 0.3:
                sip = rng.choice(SIP_FOR[hook])
        ledger.append((
            i, f"inv-{i:07d}", written_number(to), frm if rng.random() > 0.05 else None,
            written_time(ts), call_sid, create_code, hook, hook_code, sip,
        ))
    # Orphans up to the row count: inbound calls to the caller IDs, and outbound duplicates.
    while len(calls) < n:
        created = rng.randrange(t0, t_end)
        if rng.random() < 0.5:
            calls.append(call_row(sid(), rng.choice(CALLER_IDS), rng.choice(pool), created,
                                  status_at(created), "inbound"))
        else:
            calls.append(call_row(sid(), rng.choice(pool), rng.choice(CALLER_IDS), created,
                                  status_at(created)))

    con = sqlite3.connect(a.db)
    con.execute("PRAGMA synchronous = OFF")
    with con:
        con.executemany("INSERT INTO intended_calls (id, external_ref, to_number, from_number, "
                        "intended_at, call_sid, create_error_code, webhook_status, "
                        "webhook_error_code, webhook_sip_code) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        ledger)
        con.executemany("INSERT INTO recon_calls (sid, account_sid, parent_call_sid, direction, "
                        "from_raw, to_raw, from_norm, to_norm, status, date_created, "
                        "date_updated, start_time, end_time, call_time, duration, price, "
                        "price_unit, answered_by, landed_at) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", calls)
        for d in (day, day + dt.timedelta(days=1)):
            con.execute("INSERT OR REPLACE INTO recon_days (account_sid, day, calls, landed_at) "
                        "VALUES (?, ?, ?, ?)", (ACCOUNT, d.isoformat(), 0, t_end))
        con.execute("UPDATE recon_days SET calls = (SELECT count(*) FROM recon_calls) "
                    "WHERE day = ?", (day.isoformat(),))
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    with_sid = sum(1 for r in ledger if r[5])
    print(f"rows={n} calls={len(calls)} with_sid={with_sid} distinct_numbers={len(pool)}")


if __name__ == "__main__":
    main()
