#!/usr/bin/env python3
"""Compares what third-party IQFeed clients make of the simulator with its raw replies.

For each client in clients/ this runs the client (the unchanged library driven through its
own API), sends the very request line the library sends over a plain socket (the oracle),
and checks that the library's result agrees with the raw reply: row counts, first and last
rows, empty results for `!NO_DATA!`, the error text for an unknown symbol. Exit status 0
when every check passes, 1 otherwise. Only the standard library is used.

Run by tests/iqfeed-compat/run, which starts the simulator and installs the clients.
"""

import argparse
import json
import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# iqfeed 0.4.3 (download.py, get_bars) builds exactly this line: HIT, symbol, seconds per
# bar, begin, end, no MaxDatapoints, its fixed 09:29-15:59 filter, oldest first, no request
# id, terminated by a bare \n. It never sends S,SET PROTOCOL.
LIBRARY_REQUEST = "HIT,{symbol},{seconds},{begin},{end},,092900,155900,1\n"

# The cases the client runs (clients/iqfeed_0_4_3.py CASES), by name.
CASES = {
    "bars": ("AAPL", "20240612 093000", "20240612 100000", 60),
    "no_data": ("AAPL", "20240608 093000", "20240609 160000", 60),
    "unknown_symbol": ("ZZZZZZ", "20240612 093000", "20240612 100000", 60),
}


def raw_lookup(host, port, request, protocol=None):
    """The simulator's reply to one request line, as lines without their CR LF."""
    with socket.create_connection((host, port), timeout=30) as s:
        f = s.makefile("rb")
        if protocol is not None:
            s.sendall(("S,SET PROTOCOL,%s\r\n" % protocol).encode())
            echo = f.readline().decode("latin-1").rstrip("\r\n")
            if echo != "S,CURRENT PROTOCOL,%s" % protocol:
                raise RuntimeError("protocol %s not accepted: %r" % (protocol, echo))
        s.sendall(request.encode())
        lines = []
        while True:
            raw = f.readline()
            if not raw:
                raise RuntimeError("lookup port closed before !ENDMSG! for %r" % request)
            if not raw.endswith(b"\r\n"):
                raise RuntimeError("line not ended by CR LF: %r" % raw)
            line = raw.decode("latin-1")[:-2]
            lines.append(line)
            if line.split(",")[0] == "!ENDMSG!":
                return lines


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, name, detail=""):
        self.passed += 1
        print("ok    %s%s" % (name, (": " + detail) if detail else ""))

    def fail(self, name, detail):
        self.failed += 1
        print("FAIL  %s: %s" % (name, detail))

    def expect(self, name, cond, detail):
        if cond:
            self.ok(name)
        else:
            self.fail(name, detail)


def legacy_bar(fields):
    """A pre-6.0 bar line as iqfeed 0.4.3 reads it (time, H, L, O, C, total volume, period
    volume, trailing empty field) → [time, open, high, low, close, total volume]."""
    ts, high, low, open_, close, volume = fields[:6]
    return [ts, float(open_), float(high), float(low), float(close), int(volume)]


def check_iqfeed_0_4_3(args, checks):
    client = os.path.join(HERE, "clients", "iqfeed_0_4_3.py")
    env = dict(os.environ, PYTHONPATH=args.py2_site, PYTHONNOUSERSITE="1")
    if args.python2_home:
        env["PYTHONHOME"] = args.python2_home
    proc = subprocess.run(
        [args.python2, client, args.host, str(args.lookup_port)],
        env=env, capture_output=True, text=True, timeout=90,
    )
    if proc.returncode != 0:
        checks.fail("iqfeed 0.4.3 client", "exit %d: %s" % (proc.returncode, proc.stderr[-2000:]))
        return
    got = json.loads(proc.stdout)
    lib = "iqfeed 0.4.3"

    for case, (symbol, begin, end, seconds) in sorted(CASES.items()):
        request = LIBRARY_REQUEST.format(symbol=symbol, seconds=seconds, begin=begin, end=end)
        raw = raw_lookup(args.host, args.lookup_port, request)
        res = got.get(case)
        name = "%s %s (%s)" % (lib, case, request.strip())
        if res is None:
            checks.fail(name, "client reported nothing")
            continue
        if case == "no_data":
            checks.expect(name + " raw reply", raw == ["E,!NO_DATA!,", "!ENDMSG!,"], repr(raw))
            checks.expect(
                name + " is an empty result",
                res == {"outcome": "bars", "count": 0, "first": [], "last": []},
                repr(res),
            )
        elif case == "unknown_symbol":
            checks.expect(name + " raw reply", raw == ["E,Invalid symbol.,", "!ENDMSG!,"], repr(raw))
            first_line = res.get("message", "").replace("\r", "").split("\n")[0]
            checks.expect(
                name + " raises with the server's error line",
                res.get("outcome") == "exception" and first_line == raw[0],
                repr(res),
            )
        elif case == "bars":
            data = [line.split(",") for line in raw[:-1]]
            checks.expect(
                name + " raw reply has bars",
                len(data) > 0 and data[0][0] != "E" and raw[-1] == "!ENDMSG!,",
                repr(raw[:3]),
            )
            if data and all(len(f) == 8 for f in data):
                # A layout the library can read: its rows must be the reply's rows.
                want = [legacy_bar(f) for f in data]
                checks.expect(
                    name + " rows equal the raw reply",
                    res.get("outcome") == "bars"
                    and res.get("count") == len(want)
                    and res.get("first") == want[:1]
                    and res.get("last") == want[-1:],
                    "library %r, raw count %d first %r last %r" % (res, len(want), want[:1], want[-1:]),
                )
            else:
                # The 6.x layout (README, "Known incompatibilities"): the library reads the
                # whole reply up to the end line (so framing and the end line agree), then
                # cannot unpack a line of 9 or 10 fields into its 8 names.
                shape = "%d fields, first field %r" % (len(data[0]), data[0][0]) if data else "none"
                checks.expect(
                    name + " known incompatibility: 6.x bar lines (%s)" % shape,
                    res.get("outcome") == "exception"
                    and res.get("type") == "ValueError"
                    and "too many values to unpack" in res.get("message", ""),
                    "expected the library's ValueError after reading the whole reply, got %r" % (res,),
                )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--lookup-port", type=int, required=True)
    p.add_argument("--python2", required=True, help="the Python 2.7 interpreter")
    p.add_argument("--python2-home", help="PYTHONHOME for that interpreter")
    p.add_argument("--py2-site", required=True, help="where iqfeed 0.4.3 is installed")
    args = p.parse_args()
    checks = Checks()
    try:
        check_iqfeed_0_4_3(args, checks)
    except Exception as e:  # a harness error is a failure, with its cause
        checks.fail("harness", "%s: %s" % (type(e).__name__, e))
    print("iqfeed-compat: %d passed, %d failed" % (checks.passed, checks.failed))
    return 0 if checks.failed == 0 and checks.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
