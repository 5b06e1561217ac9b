#!/usr/bin/env python3
"""The pages of each Status x caller-ID partition of a day, from what callrecon landed in day
mode: `split_bound.py DB FROM TO` (Unix seconds) prints
`transient_pages:longest_transient:final_pages:longest_final:callers`. An empty partition
still costs a request, so it counts as one page. bench/table.py turns it into the split's
lower bound: the transient wave, then the final one, each partition a chain of pages."""

import math
import sqlite3
import sys

TRANSIENT = ["queued", "ringing", "in-progress"]
FINAL = ["completed", "busy", "no-answer", "failed", "canceled"]


def main():
    db, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    con = sqlite3.connect(db)
    callers = {r[0] for r in con.execute("SELECT DISTINCT from_number FROM intended_calls")}
    counts = {
        (status, caller): n
        for status, caller, n in con.execute(
            "SELECT status, from_norm, count(*) FROM recon_calls"
            " WHERE call_time >= ? AND call_time < ? GROUP BY 1, 2",
            (lo, hi),
        )
    }
    pages = {
        status: [max(1, math.ceil(counts.get((status, c), 0) / 1000)) for c in callers]
        for status in TRANSIENT + FINAL
    }
    transient = [p for s in TRANSIENT for p in pages[s]]
    final = [p for s in FINAL for p in pages[s]]
    print(f"{sum(transient)}:{max(transient)}:{sum(final)}:{max(final)}:{len(callers)}")


if __name__ == "__main__":
    main()
