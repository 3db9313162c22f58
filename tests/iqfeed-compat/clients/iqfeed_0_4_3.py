# -*- coding: utf-8 -*-
"""Drives PyPI `iqfeed` 0.4.3 (Tibor Kiss, 2016), unchanged, against a lookup port.

Runs under Python 2.7, the only Python the library runs on. Each case calls the library's
public API (`iqfeed.get_bars`, its one data function: an `HIT` request for interval bars)
and reports what came back, as one JSON object on stdout; tests/iqfeed-compat/check.py
compares it with the simulator's raw reply to the same request line.

Usage: python2.7 iqfeed_0_4_3.py HOST LOOKUP_PORT
"""

import json
import logging
import socket
import sys
import threading

import pytz
from iqfeed import get_bars

EASTERN = pytz.timezone('US/Eastern')

# (case, symbol, begin, end, seconds per bar). The request line the library builds from
# these is in check.py (LIBRARY_REQUEST), which sends the same line over a plain socket.
CASES = [
    ('bars', 'AAPL', '20240612 093000', '20240612 100000', 60),
    ('no_data', 'AAPL', '20240608 093000', '20240609 160000', 60),
    ('unknown_symbol', 'ZZZZZZ', '20240612 093000', '20240612 100000', 60),
]


def run_case(host, port, case, out):
    name, symbol, begin, end, seconds = case
    try:
        bars = get_bars(symbol, begin, end, EASTERN, seconds, host, port, timeout=5.0)
    except socket.timeout as e:
        out[name] = {'outcome': 'exception', 'type': 'timeout', 'message': str(e)}
        return
    except Exception as e:  # the library raises bare Exception for IQFeed errors
        out[name] = {'outcome': 'exception', 'type': type(e).__name__, 'message': str(e)}
        return
    rows = [[b.datetime.strftime('%Y-%m-%d %H:%M:%S'), b.open, b.high, b.low, b.close,
             b.volume] for b in bars]
    out[name] = {'outcome': 'bars', 'count': len(rows), 'first': rows[:1], 'last': rows[-1:]}


def main():
    logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
    host, port = sys.argv[1], int(sys.argv[2])
    out = {}
    # get_bars retries a failing request five times, two seconds apart: run the cases side
    # by side so the failing ones do not add up.
    threads = [threading.Thread(target=run_case, args=(host, port, c, out)) for c in CASES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
