#!/usr/bin/env python3
"""The fetch benchmark's baseline: Twilio's official Python SDK lists one UTC day of calls
from the simulator, the way its documentation shows, and consumes every record.

    sdk_list.py SIM_STDOUT_FILE YYYY-MM-DD

SIM_STDOUT_FILE is what `callrecon simulate` printed (port and credentials are read from
it). Prints `sdk: records=N seconds=S version=V`; the time covers the listing only (client
construction and the import are not counted).
"""

import datetime as dt
import re
import sys
import time

import twilio
from twilio.rest import Client


def main():
    sim_out, day = sys.argv[1], dt.date.fromisoformat(sys.argv[2])
    text = open(sim_out).read()
    port = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text).group(1)
    sid = re.search(r"account sid:\s*(\S+)", text).group(1)
    token = re.search(r"auth token:\s*(\S+)", text).group(1)

    client = Client(sid, token)
    # The 2010 API domain (`client.api`, shared by `client.api.v2010`) builds every URL from
    # base_url, and next_page_uri is joined to it too: this is all it takes with twilio 9.x.
    client.api.base_url = f"http://127.0.0.1:{port}"

    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    t = time.monotonic()
    n = 0
    for _call in client.calls.stream(
        start_time_after=start,
        start_time_before=start + dt.timedelta(days=1),
        page_size=1000,
    ):
        n += 1
    seconds = time.monotonic() - t
    print(f"sdk: records={n} seconds={seconds:.3f} version={twilio.__version__}")


if __name__ == "__main__":
    main()
