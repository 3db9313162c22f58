"""The postprocess stage's peer: pandas merge_asof + py_vollib_vectorized (issue 5, item 9).

Reads the synthetic day that `enrich_bench` (pipeline/analytics/examples/enrich_bench.rs)
wrote as raw little-endian columns, and does what the stage's maths does, the way a Python
desk would: pair each option trade with the last underlying trade at or before it
(`pandas.merge_asof(direction="backward")`), solve the implied volatility
(`py_vollib_vectorized.vectorized_implied_volatility`, Black-Scholes-Merton, Jaeckel's
"Let's Be Rational" compiled by numba) and take all Greeks at it (`get_all_greeks`).

    postprocess_peer.py run --data DIR --runs N --label LABEL   # time it, write peer_LABEL.json
    postprocess_peer.py report --data DIR                        # the table, ratios, differences

`run` times the whole of join + IV + Greeks from columns in memory (reading the files and
building the frames is not timed, as on our side), after one untimed warm-up run that
includes numba's compilation; it keeps the median of N runs. `report` reads ours.json (our
timings), peer_one-core.json and peer_machine.json, and compares the join and the
volatilities row by row with ours (ours_pair.i64, ours_iv.f64).
"""

import argparse
import json
import os
import warnings
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import py_vollib_vectorized as pvv


def load(data):
    col = lambda name, dtype: np.fromfile(data / name, dtype=dtype)
    und = pd.DataFrame({
        "time": col("und_time.i64", "<i8"),
        "und_price": col("und_price.f64", "<f8"),
        "und_row": np.arange(len(col("und_time.i64", "<i8")), dtype=np.int64),
    })
    right = col("opt_right.u8", "u1")
    opt = pd.DataFrame({
        "time": col("opt_time.i64", "<i8"),
        "price": col("opt_price.f64", "<f8"),
        "strike": col("opt_strike.f64", "<f8"),
        "t": col("opt_t.f64", "<f8"),
        "r": col("opt_r.f64", "<f8"),
        "q": col("opt_q.f64", "<f8"),
        "flag": np.where(right == ord("c"), "c", "p"),
    })
    return opt, und


def enrich(opt, und):
    """Join + IV + Greeks; returns the joined frame with iv and the Greeks added."""
    m = pd.merge_asof(opt, und, on="time", direction="backward")
    paired = m["und_price"].notna().to_numpy()
    sub = m[paired]
    S = sub["und_price"].to_numpy()
    K = sub["strike"].to_numpy()
    t = sub["t"].to_numpy()
    r = sub["r"].to_numpy()
    q = sub["q"].to_numpy()
    flag = sub["flag"].to_numpy()
    iv = pvv.vectorized_implied_volatility(
        sub["price"].to_numpy(), S, K, t, r, flag, q=q,
        model="black_scholes_merton", return_as="numpy")
    greeks = pvv.get_all_greeks(flag, S, K, t, r, iv, q=q, model="black_scholes_merton",
                                return_as="dict")
    out = {"iv": iv, **greeks}
    for name, values in out.items():
        full = np.full(len(m), np.nan)
        full[paired] = values
        m[name] = full
    return m


def run(args):
    # py_vollib_vectorized's default on_error="warn" sets prices below intrinsic or above the
    # upper bound to NaN (as we flag them) and warns each time; keep the checks, drop the noise.
    warnings.simplefilter("ignore")
    data = Path(args.data)
    opt, und = load(data)
    enrich(opt.head(1000), und)  # warm-up: numba compiles (or loads its cache) here
    secs = []
    for i in range(args.runs):
        start = time.perf_counter()
        m = enrich(opt, und)
        secs.append(time.perf_counter() - start)
        print(f"peer {args.label} run {i + 1}: {secs[-1]:.3f} s "
              f"({len(opt) / secs[-1] / 1e6:.3f} M options/s)", flush=True)
    med = statistics.median(secs)
    join = []
    for _ in range(args.runs):
        start = time.perf_counter()
        pd.merge_asof(opt, und, on="time", direction="backward")
        join.append(time.perf_counter() - start)
    m["iv"].to_numpy().astype("<f8").tofile(data / "peer_iv.f64")
    m["und_row"].fillna(-1).to_numpy().astype("<i8").tofile(data / "peer_pair.i64")
    result = {
        "label": args.label,
        "options": len(opt),
        "underlying": len(und),
        "runs": args.runs,
        "secs": secs,
        "median_secs": med,
        "options_per_s": len(opt) / med,
        "join_median_secs": statistics.median(join),
        "cpus": sorted(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "packages": {p: version(p) for p in
                     ["pandas", "numpy", "numba", "py_vollib", "py_lets_be_rational",
                      "py_vollib_vectorized"]},
    }
    (data / f"peer_{args.label}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"peer {args.label}: median {med:.3f} s, {len(opt) / med / 1e6:.3f} M options/s "
          f"on cpus {result['cpus']}")


def report(args):
    data = Path(args.data)
    ours = json.loads((data / "ours.json").read_text())
    one = json.loads((data / "peer_one-core.json").read_text())
    machine = json.loads((data / "peer_machine.json").read_text())

    rows = [
        ("ours, one thread", ours["one_thread_options_per_s"]),
        ("ours, two threads", ours["two_thread_options_per_s"]),
        ("peer, pinned to one core (taskset -c 0)", one["options_per_s"]),
        ("peer, whole machine", machine["options_per_s"]),
    ]
    print(f"\n{ours['options']:,} option trades, {ours['underlying']:,} underlying trades; "
          f"medians of {ours['runs']} (ours) and {one['runs']} (peer) runs")
    print(f"peer: {', '.join(f'{k} {v}' for k, v in one['packages'].items())}, "
          f"python {one['python']}\n")
    print("| side | options/s |\n|---|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate / 1e6:.2f} M |")
    r1 = ours["one_thread_options_per_s"] / one["options_per_s"]
    r2 = ours["two_thread_options_per_s"] / machine["options_per_s"]
    print("\n| ratio | result | target |\n|---|---:|---:|")
    print(f"| ours one thread / peer one core | {r1:.1f}x | >= 4x |")
    print(f"| ours two threads / peer whole machine | {r2:.1f}x | >= 8x |")
    print(f"| ours one thread, options/s | {ours['one_thread_options_per_s'] / 1e6:.2f} M | >= 5 M |")
    print(f"\nthe join alone, one core: ours {ours['join_median_secs'] * 1e3:.1f} ms, "
          f"merge_asof {one['join_median_secs'] * 1e3:.1f} ms")

    # The join: the same underlying row for every option trade?
    our_pair = np.fromfile(data / "ours_pair.i64", dtype="<i8")
    peer_pair = np.fromfile(data / "peer_pair.i64", dtype="<i8")
    print(f"\njoin: {int((our_pair != peer_pair).sum())} of {len(our_pair):,} option trades "
          f"paired differently ({int((our_pair < 0).sum())} with no underlying trade before them)")

    # The volatilities.
    ours_iv = np.fromfile(data / "ours_iv.f64", dtype="<f8")
    peer_iv = np.fromfile(data / "peer_iv.f64", dtype="<f8")
    vol = np.fromfile(data / "opt_vol.f64", dtype="<f8")
    both = np.isfinite(ours_iv) & np.isfinite(peer_iv)
    only_ours = int((np.isfinite(ours_iv) & ~np.isfinite(peer_iv)).sum())
    only_peer = int((~np.isfinite(ours_iv) & np.isfinite(peer_iv)).sum())
    diff = np.abs(ours_iv[both] - peer_iv[both])
    worst = np.flatnonzero(both)[int(np.argmax(diff))]
    print(f"volatilities: {int(both.sum()):,} from both, {only_ours:,} only ours, "
          f"{only_peer:,} only the peer's")
    print(f"max |IV ours - IV peer| = {diff.max():.3e} (row {worst}: ours {ours_iv[worst]!r}, "
          f"peer {peer_iv[worst]!r}); 99.9th percentile {np.quantile(diff, 0.999):.3e}, "
          f"median {np.median(diff):.3e}")
    # Where the price pins the volatility down: the f64 rounding of the price's parts (spot and
    # strike, which put-call parity and the intrinsic value bring in) over vega per unit of
    # volatility is the volatility's own uncertainty.
    pair = np.fromfile(data / "ours_pair.i64", dtype="<i8")
    spot = np.where(pair >= 0, np.fromfile(data / "und_price.f64", dtype="<f8")[pair], np.nan)
    strike = np.fromfile(data / "opt_strike.f64", dtype="<f8")
    vega = np.fromfile(data / "ours_vega.f64", dtype="<f8") * 100.0
    with np.errstate(divide="ignore", invalid="ignore"):
        fixed = np.finfo(float).eps * np.maximum(spot, strike) / vega
    pinned = both & (fixed <= 1e-10)
    pdiff = np.abs(ours_iv[pinned] - peer_iv[pinned])
    print(f"max |IV ours - IV peer| where the price fixes the volatility to 1e-10 "
          f"(eps * max(spot, strike) / vega <= 1e-10: {int(pinned.sum()):,} rows): "
          f"{pdiff.max():.3e}")
    if only_ours or only_peer:
        show(data, np.flatnonzero(np.isfinite(ours_iv) != np.isfinite(peer_iv))[:5],
             ours_iv, peer_iv)
    show(data, [worst], ours_iv, peer_iv)
    # Rounding prices to the cent moves volatilities off the ones they were made with.
    near = both & (np.abs(ours_iv - vol) < 1e-6)
    print(f"(IV within 1e-6 of the volatility the price was made with, before rounding to the "
          f"cent: {int(near.sum()):,} rows)")


def show(data, rows, ours_iv, peer_iv):
    names = ["opt_price.f64", "opt_strike.f64", "opt_t.f64", "opt_r.f64", "opt_q.f64"]
    cols = {n.split(".")[0][4:]: np.fromfile(data / n, dtype="<f8") for n in names}
    right = np.fromfile(data / "opt_right.u8", dtype="u1")
    pair = np.fromfile(data / "ours_pair.i64", dtype="<i8")
    spot = np.fromfile(data / "und_price.f64", dtype="<f8")
    for i in rows:
        s = spot[pair[i]] if pair[i] >= 0 else float("nan")
        fields = ", ".join(f"{k}={v[i]!r}" for k, v in cols.items())
        print(f"  row {i}: {chr(right[i])} spot={s!r}, {fields}: ours {ours_iv[i]!r}, "
              f"peer {peer_iv[i]!r}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--data", default="target/peer-data")
    r.add_argument("--runs", type=int, default=5)
    r.add_argument("--label", required=True)
    rep = sub.add_parser("report")
    rep.add_argument("--data", default="target/peer-data")
    args = p.parse_args()
    if args.command == "run":
        run(args)
    else:
        report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
