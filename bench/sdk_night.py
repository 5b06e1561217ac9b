#!/usr/bin/env python3
"""The night benchmark's baseline: what a script on Twilio's official Python SDK does to
replace `callrecon run`, one request after another, as its documentation shows.

    sdk_night.py SIM_STDOUT_FILE YYYY-MM-DD REQUESTS_DB

It makes exactly the kinds of requests `callrecon run` made on the same simulated day
(REQUESTS_DB is the database of callrecon's own run on an identical simulator):

1. the listing: `client.calls.stream(start_time_after=…, start_time_before=…,
   page_size=1000)` for the window's day and for the next day (callrecon lists the next day
   too, because the match delay reaches past midnight), every record consumed;
2. Monitor alerts: `client.monitor.v1.alerts.stream(start_date=…, end_date=…, page_size=1000)`
   over the window (callrecon sweeps them in slices; the SDK in one listing);
3. one `client.calls(sid).fetch()` per call callrecon fetched by SID (`recon_sid_lookups`,
   and the SIDs Twilio did not know, `recon_unknown_sids`);
4. one `client.calls(sid).notifications.list(page_size=1000)` per call whose notifications
   callrecon read (`recon_lookups`), failed calls first, as callrecon orders them.

Prints `sdk-night: requests=N seconds=S listed=L fetched=F notifications=M`; the time covers
the requests only (client construction and imports are not counted).
"""

import datetime as dt
import re
import sqlite3
import sys
import time

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client


def main():
    sim_out, day, db = sys.argv[1], dt.date.fromisoformat(sys.argv[2]), sys.argv[3]
    text = open(sim_out).read()
    port = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text).group(1)
    sid = re.search(r"account sid:\s*(\S+)", text).group(1)
    token = re.search(r"auth token:\s*(\S+)", text).group(1)

    conn = sqlite3.connect(db)
    fetched = [r[0] for r in conn.execute(
        "SELECT sid FROM recon_sid_lookups UNION SELECT sid FROM recon_unknown_sids ORDER BY 1")]
    read = [r[0] for r in conn.execute(
        """SELECT l.call_sid FROM recon_lookups l LEFT JOIN recon_calls c ON c.sid = l.call_sid
           ORDER BY CASE c.status WHEN 'failed' THEN 0 WHEN 'busy' THEN 1
                    WHEN 'no-answer' THEN 2 ELSE 3 END, c.call_time, l.call_sid""")]
    conn.close()

    client = Client(sid, token)
    base = f"http://127.0.0.1:{port}"
    client.api.base_url = base
    client.monitor.base_url = base

    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    t = time.monotonic()
    listed = 0
    for d in (start, start + dt.timedelta(days=1)):
        for _call in client.calls.stream(start_time_after=d, start_time_before=d + dt.timedelta(days=1),
                                         page_size=1000):
            listed += 1
    for _alert in client.monitor.v1.alerts.stream(start_date=start, end_date=start + dt.timedelta(days=1),
                                                  page_size=1000):
        pass
    for call_sid in fetched:
        try:
            client.calls(call_sid).fetch()
        except TwilioRestException:
            pass  # a 404: the SID is unknown, as callrecon found
    for call_sid in read:
        try:
            client.calls(call_sid).notifications.list(page_size=1000)
        except TwilioRestException:
            pass
    seconds = time.monotonic() - t
    print(f"sdk-night: seconds={seconds:.3f} listed={listed} fetched={len(fetched)} "
          f"notifications={len(read)}")


if __name__ == "__main__":
    main()
