"""The peer of `xlpipeline reconcile` for the issue 15 benchmark: pandas read_excel + compare.

Reads the 100,000-row workbook the ignored test `reconcile_of_100k_rows_timing` writes
(XLFEED_BENCH_XLSX=/tmp/rec100k.xlsx), builds the same reference bars the test stores, and
compares every value (np.isclose with zero tolerance), as an analyst would in a notebook.

    python3 benches/peers/reconcile_peer.py /tmp/rec100k.xlsx
"""

import sys
import time

import numpy as np
import pandas as pd

path = sys.argv[1]
t0 = time.perf_counter()
df = pd.read_excel(path, sheet_name=None)
t1 = time.perf_counter()
frames = [f for f in df.values() if {"date", "close"} <= set(f.columns)]
theirs = pd.concat(frames)
# The store's bars, as the test wrote them: 20 symbols, 5,000 days each.
days = theirs["date"].drop_duplicates().sort_values().reset_index(drop=True)
rows = []
for s in range(20):
    i = np.arange(len(days))
    base = 10.0 + s + i / 7.0
    rows.append(pd.DataFrame({
        "symbol": f"SYM{s}", "date": days, "open": base, "high": base + 0.5,
        "low": base - 0.5, "close": base + 0.125, "volume": 1000 + i,
    }))
ours = pd.concat(rows)
m = theirs.merge(ours, on=["symbol", "date"], how="outer", suffixes=("_t", "_o"), indicator=True)
both = m[m["_merge"] == "both"]
mismatched = 0
for f in ["open", "high", "low", "close", "volume"]:
    mismatched += int((~np.isclose(both[f + "_t"], both[f + "_o"], rtol=0, atol=0)).sum())
t2 = time.perf_counter()
print(f"pandas read_excel: {t1 - t0:.2f}s; + compare: {t2 - t0:.2f}s; "
      f"rows {len(theirs)}, mismatched {mismatched}")
