"""Checks xlserver's workbooks with openpyxl, a reader that shares no code with the writer.

    check.py BASE_URL OUT_DIR

For each call: the JSON answer and the workbook; the first sheet must hold the JSON's columns
and every value (numbers within 1e-9, dates and times as date cells equal to the JSON's
serials, empty cells for nulls), in an Excel Table whose range covers the rows; every sheet
name must be valid; the named reports must carry their charts. Exits 1 naming each failure.
"""

import datetime
import io
import json
import os
import re
import sys
import urllib.request
import zipfile

import openpyxl

BASE, OUT = sys.argv[1], sys.argv[2]
EPOCH = datetime.datetime(1899, 12, 30)
failures = []


def fail(what):
    failures.append(what)
    print("FAIL", what)


def get(path):
    with urllib.request.urlopen(BASE + path, timeout=60) as r:
        return r.status, r.headers.get("content-type", ""), r.read()


def serial(d):
    if isinstance(d, datetime.datetime):
        return (d - EPOCH).total_seconds() / 86400.0
    return float((d - EPOCH.date()).days)


def valid_sheet_name(n):
    return 1 <= len(n) <= 31 and not re.search(r"[\[\]:*?/\\]", n) and not n.startswith("'") \
        and not n.endswith("'")


def open_book(path, name):
    status, ctype, body = get(path)
    if status != 200 or not ctype.startswith("application/vnd.openxmlformats"):
        fail(f"{path}: {status} {ctype}")
        return None, body
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(body)
    return openpyxl.load_workbook(io.BytesIO(body)), body


def same_as_json(ws, answer, what):
    cols = answer["columns"]
    types = answer["types"]
    header = [c.value for c in ws[1]][: len(cols)]
    if header != cols:
        fail(f"{what}: header {header} != {cols}")
        return
    for i, row in enumerate(answer["rows"], start=2):
        cells = ws[i]
        for c, want in enumerate(row):
            got = cells[c].value if c < len(cells) else None
            at = f"{what}: {cells[c].coordinate if c < len(cells) else (i, c)}"
            if want is None or want == "":
                if got not in (None, ""):
                    fail(f"{at}: {got!r}, want empty")
            elif isinstance(want, str):
                if got != want:
                    fail(f"{at}: {got!r} != {want!r}")
            elif types[c] in ("date", "time"):
                if not isinstance(got, (datetime.datetime, datetime.date)):
                    fail(f"{at}: {got!r} is not a date cell")
                elif abs(serial(got) - want) > 1e-6:
                    fail(f"{at}: {got} is serial {serial(got)}, want {want}")
            else:
                if not isinstance(got, (int, float)) or abs(got - want) > 1e-9 * max(1.0, abs(want)):
                    fail(f"{at}: {got!r} != {want!r}")
    rows = len(answer["rows"])
    tables = list(ws.tables.values())
    if len(tables) != 1:
        fail(f"{what}: {len(tables)} tables")
        return
    ref = tables[0].ref
    m = re.fullmatch(r"A1:([A-Z]+)(\d+)", ref)
    if not m or int(m.group(2)) != max(rows, 1) + 1:
        fail(f"{what}: table {ref} does not cover {rows} rows")


def charts(body):
    z = zipfile.ZipFile(io.BytesIO(body))
    return sorted(n for n in z.namelist() if n.startswith("xl/charts/chart"))


def main():
    chain = json.loads(get("/api/v1/chain?underlying=SPY&date=2024-06-28")[2])
    contract = next(r[0] for r in chain["rows"] if isinstance(r[10], (int, float)))
    calls = [
        "history?symbol=AAPL&start=2023-07-01&end=2024-06-28",
        "history?symbol=SPY&start=2024-06-28&interval=5m",
        "ticks?symbol=SPY&start=2024-06-28&limit=100000",
        "quote?symbol=SPY",
        "chain?underlying=SPY&date=2024-06-28",
        f"option?symbol={contract}&per=trade&start=2024-06-28",
        "dividends?symbol=AAPL&start=2023-01-01&end=2024-06-28",
        "rate?tenor=3M&date=2024-06-28",
        "fundamentals?symbol=AAPL",
        "compare?symbols=SPY,AAPL&start=2023-07-01&end=2024-06-28",
    ]
    for i, call in enumerate(calls):
        f, q = call.split("?", 1)
        answer = json.loads(get("/api/v1/" + call)[2])
        wb, _ = open_book(f"/api/v1/{f}.xlsx?{q}", f"{i:02}-{f}.xlsx")
        if wb is None:
            continue
        if wb.sheetnames[-1] != "About":
            fail(f"{call}: sheets {wb.sheetnames}")
        for n in wb.sheetnames:
            if not valid_sheet_name(n):
                fail(f"{call}: sheet name {n!r}")
        same_as_json(wb[wb.sheetnames[0]], answer, call)
        if not wb.properties.title or not wb.properties.created:
            fail(f"{call}: document properties not set")
    reports = {
        "history?symbol=AAPL&start=2024-01-02&end=2024-06-28": 2,
        "compare?symbols=SPY,AAPL&start=2023-07-01&end=2024-06-28": 1,
        "ivsurface?underlying=SPY&date=2024-06-28": 2,
        "chain?underlying=SPY&date=2024-06-28": None,
    }
    for call, want in reports.items():
        name, q = call.split("?", 1)
        wb, body = open_book(f"/api/v1/report/{name}.xlsx?{q}", f"report-{name}.xlsx")
        if wb is None:
            continue
        for n in wb.sheetnames:
            if not valid_sheet_name(n):
                fail(f"report {name}: sheet name {n!r}")
        got = len(charts(body))
        want = want if want is not None else len(wb.sheetnames) - 1
        if got != want:
            fail(f"report {name}: {got} charts, want {want}")
        if name == "history":
            answer = json.loads(get(f"/api/v1/history?{q}&fields=open,high,low,close,volume")[2])
            same_as_json(wb[wb.sheetnames[0]], answer, "report history")
    if failures:
        print(f"xlsx-compat: {len(failures)} failures")
        sys.exit(1)
    print(f"xlsx-compat: {len(calls)} answers and {len(reports)} reports read by openpyxl "
          f"{openpyxl.__version__}: all agree")


main()
