"""The xlsx writing peer (issue 15): Python XlsxWriter in constant_memory mode writing the
same rows as `server/examples/xlsx_bench.rs` (read from DATA/ticks.csv, untimed), with the
same cell types and formats. It asks for an Excel Table over them, but XlsxWriter's
constant_memory mode warns and leaves the Table out; our writer puts an autofilter instead of a
Table on sheets over 100,000 rows, so at a million rows neither writes one.

    python xlsx_peer.py --data target/peer-data/xlsx --runs 5

Prints one JSON line: the median rows per second of the timed part (workbook to file).
"""

import argparse
import csv
import json
import os
import statistics
import time

import xlsxwriter


def load(path):
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        rows = [
            (float(t), float(p), int(float(s)), float(b), float(a), int(float(i)), basis, int(float(m)))
            for t, p, s, b, a, i, basis, m in r
        ]
    return header, rows


def write(path, header, rows):
    wb = xlsxwriter.Workbook(path, {"constant_memory": True})
    ws = wb.add_worksheet("ticks")
    bold = wb.add_format({"bold": True})
    fmt = [
        wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"}),
        wb.add_format({"num_format": "0.00"}),
        wb.add_format({"num_format": "#,##0"}),
        wb.add_format({"num_format": "0.00"}),
        wb.add_format({"num_format": "0.00"}),
        wb.add_format({"num_format": "0"}),
        None,
        wb.add_format({"num_format": "0"}),
    ]
    for c, w in enumerate([24, 10, 12, 10, 10, 12, 8, 16]):
        ws.set_column(c, c, w)
    ws.add_table(0, 0, len(rows), len(header) - 1,
                 {"columns": [{"header": h, "header_format": bold} for h in header]})
    ws.freeze_panes(1, 0)
    number, string = ws.write_number, ws.write_string
    f0, f1, f2, f3, f4, f5, _, f7 = fmt
    for i, (t, p, s, b, a, tid, basis, m) in enumerate(rows, start=1):
        number(i, 0, t, f0)
        number(i, 1, p, f1)
        number(i, 2, s, f2)
        number(i, 3, b, f3)
        number(i, 4, a, f4)
        number(i, 5, tid, f5)
        string(i, 6, basis)
        number(i, 7, m, f7)
    wb.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="target/peer-data/xlsx")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    header, rows = load(os.path.join(a.data, "ticks.csv"))
    out = os.path.join(a.data, "peer.xlsx")
    secs = []
    for _ in range(a.runs):
        started = time.perf_counter()
        write(out, header, rows)
        secs.append(time.perf_counter() - started)
    median = statistics.median(secs)
    print(json.dumps({
        "side": "peer (XlsxWriter %s, constant_memory)" % xlsxwriter.__version__,
        "rows": len(rows), "runs": a.runs, "median_s": round(median, 3),
        "rows_per_s": round(len(rows) / median), "all_s": [round(s, 3) for s in secs],
        "bytes": os.path.getsize(out),
    }))


if __name__ == "__main__":
    main()
