"""Session 21 scratch harness: NAB scores of ensemble designs from cached member outputs, and a LOCO check.

Member outputs (raw channels of the base detectors, record deviation) are computed once per file and cached
in memory (and in an npz under /tmp); each design is then likelihood + combine + suppression in numpy/numba and
NAB's sweep, about a second per setting. Run one design family at a time, e.g.::

    PYTHONPATH=lib /work/main/.venv/bin/python bench/nab_s21_search.py baseline
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from lakewatch.detectors import get_detector
from lakewatch.detectors._jit import jit
from lakewatch.detectors.ensemble import _suppress_kernel
from lakewatch.detectors.likelihood import LikelihoodDetector
from lakewatch.evaluation.corpus import NabCorpus
from lakewatch.evaluation.nab_scoring import probation_length, window_spans
from lakewatch.evaluation.nab_threshold import pool_rows, row_units, sweep

CORPUS = Path("/work/shared/nab")
CACHE = Path("/tmp/nab_s21_cache.npz")
LIK_DEFAULT = get_detector("knn_likelihood").params.as_dict()

corpus = NabCorpus.at(CORPUS)
SERIES = corpus.series()
KEYS = [s.key for s in SERIES]
CATS = sorted({k.split("/")[0] for k in KEYS})
PROFILES = corpus.profiles()
WINDOWS = corpus.windows()

# per file: first scored row, window ids, units (post-probation)
PREP = []
for s in SERIES:
    stamps = np.asarray(s.timestamps).astype("datetime64[ns]")
    wid, units = row_units(len(stamps), window_spans(stamps, WINDOWS[s.key], s.key))
    first = probation_length(len(stamps))
    PREP.append((first, wid[first:], units[first:]))
N_WINDOWS = [len(np.unique(w[w >= 0])) for _, w, _ in PREP]

BASES = {
    "knn": lambda: get_detector("knn"),
    "record": lambda: get_detector("record_deviation"),
    "hw": lambda: get_detector("holt_winters"),
    "ewma": lambda: get_detector("ewma"),
    "wg": lambda: get_detector("windowed_gaussian"),
    "rz": lambda: get_detector("robust_zscore"),
}


def _raw(det, s):
    arrays = det._init_arrays()
    x = np.ascontiguousarray(np.asarray(s.values, dtype=float))
    ts = np.ascontiguousarray(np.asarray(s.timestamps).astype("datetime64[ns]").astype(np.int64))
    if det.kind == "record_deviation":
        return np.clip(det._score(arrays, x, ts), 0, 1)[:, None]
    return np.ascontiguousarray(np.clip(det._raw(arrays, x, ts), 0.0, 1.0))


def load_cache(names):
    cache = dict(np.load(CACHE)) if CACHE.exists() else {}
    changed = False
    for name in names:
        if f"{name}/0" in cache:
            continue
        det = BASES[name]()
        t = time.perf_counter()
        for i, s in enumerate(SERIES):
            cache[f"{name}/{i}"] = _raw(det, s)
        print(f"cached {name} in {time.perf_counter() - t:.1f}s", flush=True)
        changed = True
    if changed:
        np.savez(CACHE, **cache)
    return {name: [cache[f"{name}/{i}"] for i in range(len(SERIES))] for name in names}


def likelihood(raws, base_name="knn", base=None, **overrides):
    """Likelihood of cached raw channels; ``base`` (or BASES[base_name]) must be the detector that made them (the
    state arrays are sized by its raw channel count: numba does not check bounds)."""
    params = {**LIK_DEFAULT, **overrides}
    det = LikelihoodDetector(base if base is not None else BASES[base_name](), params)
    out = []
    for raw in raws:
        arrays = det._init_arrays()
        o = np.zeros(len(raw))
        det._likelihood(arrays, np.ascontiguousarray(raw), o)
        out.append(o)
    return out


def suppress(scores, threshold=0.5, rows=100, factor=0.0):
    out = []
    for s in scores:
        s = np.ascontiguousarray(s.copy())
        if rows > 0:
            _suppress_kernel(s, np.zeros(1, dtype=np.int64), threshold, rows, factor)
        out.append(s)
    return out


def pooled(scores, idx):
    return pool_rows([(scores[i][PREP[i][0]:], PREP[i][1], PREP[i][2]) for i in idx])


def profile_sweep(pool, profile):
    p = PROFILES[profile]
    return sweep(pool, p.tp_weight, p.fp_weight, p.fn_weight)


def normalised(raw, idx, profile):
    p = PROFILES[profile]
    n = sum(N_WINDOWS[i] for i in idx)
    null, perfect = -p.fn_weight * n, p.tp_weight * n
    return math.nan if perfect == null else 100.0 * (raw - null) / (perfect - null)


def score(scores, profiles=("standard", "reward_low_FP_rate", "reward_low_FN_rate"), idx=None):
    """{profile: (normalised, threshold)} with the threshold optimised over files idx (all by default)."""
    idx = list(range(len(SERIES))) if idx is None else idx
    pool = pooled(scores, idx)
    out = {}
    for prof in profiles:
        thr, raw = profile_sweep(pool, prof).best()
        out[prof] = (normalised(raw, idx, prof), thr)
    return out


def raw_at(scores, idx, profile, threshold):
    """Raw NAB score of files idx at a fixed threshold (rows >= threshold detected)."""
    sw = profile_sweep(pooled(scores, idx), profile)
    k = int(np.searchsorted(-sw.thresholds, -threshold, side="right")) - 1
    return float(sw.scores[max(k, 0)])


def by_cat(cat):
    return [i for i, k in enumerate(KEYS) if k.startswith(cat + "/")]


def loco(candidates, profile="standard"):
    """candidates: {label: scores}. Per left-out category choose label + threshold on the others."""
    rows = []
    pools = {}
    for cat in CATS:
        held = by_cat(cat)
        train = [i for i in range(len(SERIES)) if i not in held]
        best = None
        for label, sc in candidates.items():
            thr, raw = profile_sweep(pooled(sc, train), profile).best()
            val = normalised(raw, train, profile)
            if best is None or val > best[1]:
                best = (label, val, thr)
        label, _, thr = best
        held_raw = raw_at(candidates[label], held, profile, thr)
        rows.append((cat, label, thr, normalised(held_raw, held, profile), held_raw))
    del pools
    return rows


def report_loco(candidates, title):
    """Print the leave-one-category-out result of choosing among `candidates` per fold, for the three profiles."""
    for prof in ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]:
        rows = loco(candidates, prof)
        pooled_norm = normalised(sum(r[4] for r in rows), list(range(len(SERIES))), prof)
        mean = np.nanmean([r[3] for r in rows])
        print(f"## {prof} | {title} | pooled held-out {pooled_norm:.2f} | mean of 6 {mean:.2f}")
        for cat, label, thr, norm, raw in rows:
            print(f"  {cat:24s} {label:18s} thr {thr:.6f} held-out {norm:7.2f} raw {raw:8.3f}", flush=True)


def fmt(res):
    return " / ".join(f"{res[p][0]:.2f}" for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"))


def ensemble(members, combine="max", gates=None, **supp):
    """members: list of per-file score lists; gates: per member level below which it counts 0 (None: always)."""
    out = []
    for i in range(len(SERIES)):
        cols = []
        for m, mem in enumerate(members):
            v = mem[i]
            g = gates[m] if gates else None
            if g is not None:
                v = np.where(v >= g, v, 0.0)
            cols.append(v)
        stack = np.stack(cols)
        out.append(stack.max(axis=0) if combine == "max" else stack.mean(axis=0))
    return suppress(out, **supp)


def main(argv):
    what = argv[1] if len(argv) > 1 else "baseline"
    t0 = time.perf_counter()
    c = load_cache(["knn", "record"])
    knn_l = likelihood(c["knn"])
    rec = [r[:, 0] for r in c["record"]]
    base = ensemble([knn_l, rec])
    if what == "baseline":
        res = score(base)
        print("baseline", fmt(res), {p: round(v[1], 6) for p, v in res.items()}, f"{time.perf_counter()-t0:.1f}s")
    elif what == "knnlik":  # per-member likelihood combine/avg_window/history for the kNN
        for comb, aw, hist in itertools.product(["median", "mean", "max"], [5, 10, 20], [8600]):
            kl = likelihood(c["knn"], combine=comb, avg_window=aw, history=hist)
            print(comb, aw, hist, fmt(score(ensemble([kl, rec]))), flush=True)
    elif what.startswith("third:"):
        name = what.split(":")[1]
        c3 = load_cache([name])
        for aw in [5, 10]:
            l3 = likelihood(c3[name], base_name=name, avg_window=aw)
            print(name, "alone", aw, fmt(score(suppress(l3))), flush=True)
            for g in [None, 0.55, 0.6, 0.7, 0.8]:
                print(name, aw, "gate", g, fmt(score(ensemble([knn_l, rec, l3], gates=[None, None, g]))), flush=True)
    elif what == "grid_lik":
        for aw, re_, hist in itertools.product([8, 10, 12, 15, 20], [200, 300, 400], [8600, 12000]):
            kl = likelihood(c["knn"], avg_window=aw, reestimate_every=re_, history=hist)
            print("aw", aw, "re", re_, "hist", hist, fmt(score(ensemble([kl, rec]))), flush=True)
    elif what == "two_knn":
        for aw2 in [15, 20, 30]:
            k2 = likelihood(c["knn"], avg_window=aw2)
            for g in [None, 0.6, 0.7, 0.8]:
                print("knn10+knn", aw2, "gate", g, fmt(score(ensemble([knn_l, rec, k2], gates=[None, None, g]))),
                      flush=True)
    elif what == "supp":
        for thr, rows in itertools.product([0.45, 0.5, 0.55], [50, 100, 150, 200, 300]):
            print("supp", thr, rows, fmt(score(ensemble([knn_l, rec], threshold=thr, rows=rows))),
                  flush=True)
    elif what == "level_supp":
        raw = ensemble([knn_l, rec], rows=0)
        for hi, rows_hi, rows_lo in itertools.product([0.6, 0.7, 0.8], [100, 200, 400], [30, 60, 100]):
            print("level", hi, rows_hi, rows_lo, fmt(score([level_suppress(s, 0.5, hi, rows_lo, rows_hi)
                                                            for s in raw])), flush=True)
    elif what == "rec_lik":
        for aw in [1, 3, 5, 10]:
            rl = likelihood(c["record"], base_name="record", avg_window=aw)
            for g in [None, 0.6, 0.7, 0.8]:
                print("rec_lik", aw, g, fmt(score(ensemble([knn_l, rec, rl], gates=[None, None, g]))), flush=True)
    elif what == "extend":
        raw = ensemble([knn_l, rec], rows=0)
        for thr, rows in itertools.product([0.5], [25, 50, 75, 100, 150]):
            print("extend", thr, rows, fmt(score([_extend_kernel(np.ascontiguousarray(s.copy()), thr, rows)
                                                   for s in raw])), flush=True)
    elif what.startswith("confirm:"):
        name = what.split(":")[1]
        c3 = load_cache([name])
        for aw in [5, 10]:
            l3 = likelihood(c3[name], base_name=name, avg_window=aw)
            raw = ensemble([knn_l, rec], rows=0)
            for v, f in itertools.product([0.1, 0.2, 0.3], [0.0, 0.9]):
                conf = [np.where(lk >= v, r, r * f) for r, lk in zip(raw, l3, strict=True)]
                print("confirm", name, aw, v, f, fmt(score(suppress(conf))), flush=True)
    elif what == "combine":
        for w in [0.05, 0.1, 0.2, 0.3]:
            comb = [np.maximum(a, b) + w * np.minimum(a, b) for a, b in zip(knn_l, rec, strict=True)]
            print("max+w*min", w, fmt(score(suppress([np.clip(x, 0, 1) for x in comb]))), flush=True)
        comb = [1 - (1 - a) * (1 - b) for a, b in zip(knn_l, rec, strict=True)]
        print("prob-or", fmt(score(suppress(comb))), flush=True)
        for pw in [2, 4, 8]:
            comb = [((a ** pw + b ** pw) / 2) ** (1 / pw) for a, b in zip(knn_l, rec, strict=True)]
            print("power-mean", pw, fmt(score(suppress(comb))), flush=True)
        for wr in [0.9, 0.95, 1.05, 1.1]:
            print("record x", wr, fmt(score(ensemble([knn_l, [np.clip(r * wr, 0, 1) for r in rec]]))), flush=True)
    elif what == "loco":
        grids = {
            "s14 grid: reestimate_every {100,200,300,400}": {
                f"re{r}": ensemble([likelihood(c["knn"], reestimate_every=r), rec]) for r in [100, 200, 300, 400]},
            "default fixed (re300)": {"re300": base},
            "wide grid: avg_window {10,15,20} x reestimate {200,300,400} x suppress_rows {50,100,150}": {
                f"aw{a}/re{r}/sr{n}": ensemble([likelihood(c["knn"], avg_window=a, reestimate_every=r), rec], rows=n)
                for a in [10, 15, 20] for r in [200, 300, 400] for n in [50, 100, 150]},
        }
        for prof in ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]:
            for gname, cands in grids.items():
                rows = loco(cands, prof)
                total_raw = sum(r[4] for r in rows)
                pooled_norm = normalised(total_raw, list(range(len(SERIES))), prof)
                mean6 = np.nanmean([r[3] for r in rows])
                print(f"## {prof} | {gname} | pooled held-out {pooled_norm:.2f} | mean of 6 {mean6:.2f}")
                for cat, label, thr, norm, raw in rows:
                    print(f"  {cat:24s} {label:14s} thr {thr:.6f} held-out {norm:7.2f} raw {raw:8.3f}", flush=True)
    elif what == "sr":
        for win in [32, 64]:
            srs = [spectral_residual(np.asarray(x.values, dtype=float), win) for x in SERIES]
            for aw in [1, 5, 10]:
                l3 = likelihood([r[:, None] for r in srs], avg_window=aw)
                print("sr", win, aw, "alone", fmt(score(suppress(l3))), flush=True)
                for g in [None, 0.6, 0.7, 0.8]:
                    print("sr", win, aw, "gate", g, fmt(score(ensemble([knn_l, rec, l3], gates=[None, None, g]))),
                          flush=True)
    elif what == "sr_loco":
        cands = {"default": base}
        for win in [24, 32, 48]:
            sr_raw = [spectral_residual(np.asarray(x.values, dtype=float), win)[:, None] for x in SERIES]
            for aw in [8, 10, 12]:
                sc = ensemble([knn_l, rec, likelihood(sr_raw, avg_window=aw)])
                print("sr", win, aw, fmt(score(sc)), flush=True)
                cands[f"sr{win}/aw{aw}"] = sc
        report_loco(cands, "default + sr grid")
    elif what == "deep":
        d = np.load("/tmp/nab_s21_deep.npz")
        deep = [np.ascontiguousarray(d[f"deep/{i}"]) for i in range(len(SERIES))]
        print("deep alone", fmt(score([x[:, 0] for x in deep])), flush=True)
        print("deep + suppression", fmt(score(suppress([x[:, 0] for x in deep]))), flush=True)
        print("members + deep", fmt(score(ensemble([knn_l, rec, [x[:, 0] for x in deep]]))), flush=True)
        for aw in [5, 10]:
            dl = likelihood(deep, avg_window=aw)
            print("deep_likelihood alone", aw, fmt(score(suppress(dl))), flush=True)
            for g in [None, 0.6, 0.7, 0.8]:
                print("members + deep_likelihood", aw, "gate", g,
                      fmt(score(ensemble([knn_l, rec, dl], gates=[None, None, g]))), flush=True)
    elif what == "factor":
        for rows, f in itertools.product([100, 200, 400], [0.55, 0.6, 0.7, 0.8]):
            print("rows", rows, "factor", f, fmt(score(ensemble([knn_l, rec], rows=rows, factor=f))), flush=True)
    elif what == "tied":  # suppression triggered at the flag threshold itself (no silent suppression below it)
        raw = ensemble([knn_l, rec], rows=0)
        idx = list(range(len(SERIES)))
        for t in np.arange(0.48, 0.56, 0.005):
            sc = suppress(raw, threshold=float(t))
            vals = [normalised(raw_at(sc, idx, p, float(t)), idx, p)
                    for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate")]
            print(f"tied {t:.3f}", " / ".join(f"{v:.2f}" for v in vals), "| swept", fmt(score(sc)), flush=True)
    elif what == "loco2":  # the other candidates above 74.96: their small grids, the default point included
        raw = ensemble([knn_l, rec], rows=0)
        grids = {"suppress_threshold {0.495,0.5,0.505,0.51}": {
            f"st{t}": suppress(raw, threshold=t) for t in [0.495, 0.5, 0.505, 0.51]}}
        rec_grid = {"default": base}
        for aw in [3, 5, 10]:
            rl = likelihood(c["record"], base_name="record", avg_window=aw)
            for g in [0.7, 0.8]:
                rec_grid[f"rl{aw}/g{g}"] = ensemble([knn_l, rec, rl], gates=[None, None, g])
        grids["record likelihood 3rd member: avg_window {3,5,10} x gate {0.7,0.8}, + default"] = rec_grid
        for prof in ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]:
            for gname, cands in grids.items():
                rows = loco(cands, prof)
                pooled_norm = normalised(sum(r[4] for r in rows), list(range(len(SERIES))), prof)
                print(f"## {prof} | {gname} | pooled held-out {pooled_norm:.2f} | "
                      f"mean of 6 {np.nanmean([r[3] for r in rows]):.2f}")
                for cat, label, thr, norm, raw_ in rows:
                    print(f"  {cat:24s} {label:14s} thr {thr:.6f} held-out {norm:7.2f} raw {raw_:8.3f}", flush=True)
    elif what == "knn_memory":  # the kNN's own memory (weekly structure of 5-minute series is ~2000 rows)
        grid = [(int(m), [2, 4, 8]) for m in argv[2].split(",")] if len(argv) > 2 else [
            (2000, [2, 4, 8]), (4000, [2, 4, 8]), (1000, [2, 4, 8, 16]), (2000, [2, 4, 8, 16])]
        extra = json.loads(argv[3]) if len(argv) > 3 else {}
        for memory, scales in grid:
            det = get_detector("knn", {"memory": memory, "scales": scales, **extra})
            kr = [_raw(det, x) for x in SERIES]
            kl = likelihood(kr, base=det)
            print("knn memory", memory, "scales", scales, extra, fmt(score(ensemble([kl, rec]))), flush=True)
    elif what == "loco_mem":  # the kNN memory chosen per fold (the default's 1000 included)
        cands = {"m1000": base}
        for memory in [2000, 3000, 4000, 5000, 5500, 6000, 6500, 8000]:
            det = get_detector("knn", {"memory": memory})
            kl = likelihood([_raw(det, x) for x in SERIES], base=det)
            cands[f"m{memory}"] = ensemble([kl, rec])
        report_loco(cands, "kNN memory 1000..8000 (9)")
    elif what == "loco_mem_st":  # kNN memory x suppress_threshold, chosen per fold
        cands = {}
        for memory in [1000, 4000, 5500, 6000, 6500]:
            det = get_detector("knn", {"memory": memory})
            kl = likelihood([_raw(det, x) for x in SERIES], base=det)
            for st in [0.5, 0.505]:
                cands[f"m{memory}/st{st}"] = ensemble([kl, rec], threshold=st)
                print(f"m{memory}/st{st}", fmt(score(cands[f"m{memory}/st{st}"])), flush=True)
        report_loco(cands, "kNN memory x suppress_threshold (10)")
    elif what == "mem_st":  # neighbourhood of kNN memory 6500 / suppress_threshold 0.505
        for memory in [int(m) for m in argv[2].split(",")]:
            det = get_detector("knn", {"memory": memory})
            kl = likelihood([_raw(det, x) for x in SERIES], base=det)
            for st in [0.5, 0.505, 0.51]:
                print(f"m{memory}/st{st}", fmt(score(ensemble([kl, rec], threshold=st))), flush=True)
    elif what == "long_fine":  # session 27: memory 6500's neighbourhood in suppression rows and the likelihood's window
        det = get_detector("knn", {"memory": 6500})
        kr = [_raw(det, x) for x in SERIES]
        for aw in [int(a) for a in (argv[2] if len(argv) > 2 else "10").split(",")]:
            kl = likelihood(kr, base=det, avg_window=aw)
            for st, rows in itertools.product([0.503, 0.505, 0.507], [80, 90, 100, 110, 120]):
                print(f"m6500/aw{aw}/st{st}/rows{rows}", fmt(score(ensemble([kl, rec], threshold=st, rows=rows))),
                      flush=True)
    elif what == "long_rows":  # session 27: suppression rows 60..100 at memory 6000-7000, suppress_threshold 0.505
        for memory in [6000, 6250, 6500, 6750, 7000]:
            det = get_detector("knn", {"memory": memory})
            kl = likelihood([_raw(det, x) for x in SERIES], base=det)
            for rows in [60, 70, 75, 80, 85, 90, 100]:
                print(f"m{memory}/st0.505/rows{rows}", fmt(score(ensemble([kl, rec], threshold=0.505, rows=rows))),
                      flush=True)
    elif what == "loco_long":  # session 27: kNN memory x suppress_threshold x suppress_rows, chosen per fold
        cands = {}
        for memory in [1000, 4000, 5500, 6000, 6500]:
            det = get_detector("knn", {"memory": memory})
            kl = likelihood([_raw(det, x) for x in SERIES], base=det)
            for st, rows in itertools.product([0.5, 0.505], [80, 100]):
                cands[f"m{memory}/st{st}/r{rows}"] = ensemble([kl, rec], threshold=st, rows=rows)
        report_loco(cands, "kNN memory x suppress_threshold x suppress_rows (20)")
    elif what == "loco_fixed":  # session 27: fixed parameter sets, only the threshold chosen per fold
        det = get_detector("knn", {"memory": 6500})
        kl = likelihood([_raw(det, x) for x in SERIES], base=det)
        sets = {"default": base, "m6500/st0.505/r100": ensemble([kl, rec], threshold=0.505, rows=100),
                "m6500/st0.505/r80": ensemble([kl, rec], threshold=0.505, rows=80)}
        for name, cand in sets.items():
            res = score(cand)
            print(name, "in sample", fmt(res), {p: round(v[1], 6) for p, v in res.items()}, flush=True)
            report_loco({name: cand}, f"{name}, threshold per fold")
    print(f"total {time.perf_counter()-t0:.1f}s")


@jit
def _extend_kernel(s, thr, rows):
    """Suppression re-armed by every raw score >= thr inside it (a burst of alarms stays silent)."""
    left = 0
    for t in range(s.shape[0]):
        if left > 0:
            if s[t] >= thr:
                left = rows
            else:
                left -= 1
            s[t] = 0.0
        elif s[t] >= thr:
            left = rows
    return s


def spectral_residual(x, win, extend=5, q=3, z=21):
    """Causal spectral residual (after Ren et al. 2019): saliency of the last point of each trailing window of
    ``win`` values (extended by ``extend`` extrapolated points), relative to the mean saliency of the last ``z``
    rows; returned as r / (1 + r) in [0, 1]."""
    n = len(x)
    pad = np.concatenate([np.full(win - 1, x[0]), x])
    w = np.lib.stride_tricks.sliding_window_view(pad, win)  # (n, win), row t ends at x[t]
    slope = (w[:, -1] - w[:, -6]) / 5.0
    ext = w[:, -1:] + slope[:, None] * np.arange(1, extend + 1)[None, :]
    full = np.concatenate([w, ext], axis=1)
    f = np.fft.fft(full, axis=1)
    amp = np.abs(f) + 1e-8
    log_amp = np.log(amp)
    kernel = np.ones(q) / q
    avg = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, log_amp)
    sal = np.abs(np.fft.ifft(np.exp(log_amp - avg) * f / amp, axis=1))[:, win - 1]
    ring = np.lib.stride_tricks.sliding_window_view(np.concatenate([np.full(z, sal[0]), sal]), z + 1)[:, :-1]
    m = ring.mean(axis=1) + 1e-8
    r = np.maximum((sal - m) / m, 0.0)
    out = r / (1.0 + r)
    out[:win] = 0.0
    return out[:n]


def level_suppress(s, low, hi, rows_lo, rows_hi):
    """Suppression whose length depends on the alarm's level: rows_hi rows after a score >= hi, rows_lo after
    a score in [low, hi)."""
    return _level_kernel(np.ascontiguousarray(s.copy()), low, hi, rows_lo, rows_hi)




@jit
def _level_kernel(s, low, hi, rows_lo, rows_hi):
    left = 0
    for t in range(s.shape[0]):
        if left > 0:
            s[t] = 0.0
            left -= 1
        elif s[t] >= hi:
            left = rows_hi
        elif s[t] >= low:
            left = rows_lo
    return s


if __name__ == "__main__":
    main(sys.argv)
