"""Compare preprocessing variants of one run, item by item.

* per-variant metrics with bootstrap intervals (:func:`workbench.metrics.evaluate`);
* Δ WA and Δ UAR against the baseline with **paired** bootstrap intervals
  (the same resampled items for both variants);
* the **McNemar exact test** on the correct/incorrect pairs: with ``b`` items
  right only under the baseline and ``c`` right only under the variant,
  ``p = min(1, 2 · P[X ≤ min(b, c)])`` for ``X ~ Binomial(b + c, 1/2)``;
* the **flips** table: items whose predicted label changed, with both labels,
  confidences and findings;
* confidence shifts: variant confidence minus baseline confidence per item.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ConfigError
from .labels import LABEL_KEYS
from .metrics import evaluate, uar, wa
from .serialize import save_figure


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` and ``c``.

    The exact McNemar test is the exact binomial test of ``b`` successes in
    ``b + c`` trials at p = 1/2 (scipy's ``binomtest``; statsmodels'
    ``mcnemar(exact=True)`` gives the same numbers).
    """
    from scipy.stats import binomtest

    n = b + c
    if n == 0:
        return 1.0
    return float(binomtest(b, n, 0.5, alternative="two-sided").pvalue)


def paired_bootstrap_delta(fn, y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, *, n: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``fn(b) - fn(a)`` and its percentile interval, resampling items jointly."""
    if len(y_true) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    delta = fn(y_true, pred_b) - fn(y_true, pred_a)
    stats = []
    for _ in range(n):
        i = rng.integers(0, len(y_true), len(y_true))
        d = fn(y_true[i], pred_b[i]) - fn(y_true[i], pred_a[i])
        if d == d:
            stats.append(d)
    lo, hi = np.percentile(stats, [100 * (1 - level) / 2, 100 * (1 + level) / 2]) if stats else (float("nan"), float("nan"))
    return float(delta), float(lo), float(hi)


@dataclass
class Comparison:
    baseline: str
    variant: str
    n_paired: int
    delta_wa: tuple[float, float, float]
    delta_uar: tuple[float, float, float]
    mcnemar_b: int  # right under the baseline only
    mcnemar_c: int  # right under the variant only
    mcnemar_p: float
    n_flips: int
    confidence_shift_mean: float
    confidence_shift_median: float

    def to_dict(self) -> dict:
        return self.__dict__.copy()

    def render(self) -> str:
        d_wa, d_uar = self.delta_wa, self.delta_uar
        return (
            f"{self.variant} vs {self.baseline} ({self.n_paired} paired items): "
            f"ΔWA {d_wa[0]:+.3f} [{d_wa[1]:+.3f}, {d_wa[2]:+.3f}], ΔUAR {d_uar[0]:+.3f} [{d_uar[1]:+.3f}, {d_uar[2]:+.3f}], "
            f"McNemar b={self.mcnemar_b} c={self.mcnemar_c} p={self.mcnemar_p:.4f}, "
            f"{self.n_flips} label flips, confidence shift mean {self.confidence_shift_mean:+.3f}"
        )


def _predicted(rows, classes: list[str], restrict: bool) -> np.ndarray:
    """Top labels of ``rows``; with ``restrict`` the argmax over ``classes`` only (as metrics does)."""
    if restrict and classes and len(rows):
        scores = rows[[f"score_{c}" for c in classes]].to_numpy(dtype=float)
        return np.asarray(classes)[np.argmax(scores, axis=1)]
    return rows["pred"].astype(str).to_numpy()


def compare_results(results, *, baseline: str = "raw", n_boot: int = 1000, seed: int = 0, restrict: bool = False):
    """Compare every variant of a results DataFrame with ``baseline``.

    Returns ``(reports, comparisons, flips)``: per-variant metric reports, a
    :class:`Comparison` per non-baseline variant, and a flips DataFrame.
    """
    import pandas as pd

    variants = list(dict.fromkeys(results["variant"]))
    if baseline not in variants:
        raise ConfigError(f"baseline variant {baseline!r} is not in the run; it has {variants}.", fix="pass --baseline with one of them.")
    reports = {v: evaluate(results, variant=v, n_boot=n_boot, seed=seed, restrict=restrict) for v in variants}
    ok = results[results["status"] == "ok"]
    base = ok[ok["variant"] == baseline].set_index("id")
    comparisons, flip_rows = [], []
    for v in variants:
        if v == baseline:
            continue
        other = ok[ok["variant"] == v].set_index("id")
        common = base.index.intersection(other.index)
        a, b = base.loc[common], other.loc[common]
        labelled = a["emotion"].fillna("").astype(str) != ""
        y = a.loc[labelled, "emotion"].astype(str).to_numpy()
        classes = [c for c in LABEL_KEYS if c in set(y)]
        pa = _predicted(a.loc[labelled], classes, restrict)
        pb = _predicted(b.loc[labelled], classes, restrict)
        right_a, right_b = pa == y, pb == y
        nb, nc = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
        shift = (b["confidence"].astype(float) - a["confidence"].astype(float)).to_numpy()
        flipped = a["pred"].astype(str) != b["pred"].astype(str)
        for item_id in common[flipped.to_numpy()]:
            ra, rb = a.loc[item_id], b.loc[item_id]
            flip_rows.append({
                "id": item_id, "baseline": baseline, "variant": v, "emotion": ra["emotion"],
                "pred_baseline": ra["pred"], "confidence_baseline": float(ra["confidence"]),
                "pred_variant": rb["pred"], "confidence_variant": float(rb["confidence"]),
                "fixed": bool(rb["pred"] == ra["emotion"] and ra["pred"] != ra["emotion"]) if ra["emotion"] else None,
                "broke": bool(ra["pred"] == ra["emotion"] and rb["pred"] != ra["emotion"]) if ra["emotion"] else None,
                "findings_baseline": ra["finding_codes"], "findings_variant": rb["finding_codes"], "path": ra["path"],
            })
        comparisons.append(Comparison(
            baseline=baseline, variant=v, n_paired=int(len(y)),
            delta_wa=paired_bootstrap_delta(wa, y, pa, pb, n=n_boot, seed=seed),
            delta_uar=paired_bootstrap_delta(lambda t, p: uar(t, p, classes), y, pa, pb, n=n_boot, seed=seed),
            mcnemar_b=nb, mcnemar_c=nc, mcnemar_p=mcnemar_exact(nb, nc), n_flips=int(flipped.sum()),
            confidence_shift_mean=float(np.mean(shift)) if len(shift) else float("nan"),
            confidence_shift_median=float(np.median(shift)) if len(shift) else float("nan"),
        ))
    flips = pd.DataFrame(flip_rows, columns=[
        "id", "baseline", "variant", "emotion", "pred_baseline", "confidence_baseline", "pred_variant", "confidence_variant",
        "fixed", "broke", "findings_baseline", "findings_variant", "path"])
    return reports, comparisons, flips


def compare_run(run_dir: str | Path, *, baseline: str = "raw", n_boot: int = 1000, seed: int = 0, restrict: bool = False, figures: bool = True):
    """Compare the variants of a run folder; writes ``compare.json``, ``flips.csv`` and figures."""
    import pandas as pd

    run_dir = Path(run_dir)
    path = run_dir / "results.parquet"
    if not path.is_file():
        raise ConfigError("no results.parquet in the run folder.", source=str(run_dir), fix="finish the run first (`workbench run` with the same --out).")
    results = pd.read_parquet(path)
    reports, comparisons, flips = compare_results(results, baseline=baseline, n_boot=n_boot, seed=seed, restrict=restrict)
    payload = {
        "baseline": baseline,
        "metrics": {v: {k: getattr(r, k) for k in ("n_scored", "wa", "uar", "macro_f1", "ci", "ece")} for v, r in reports.items()},
        "comparisons": [c.to_dict() for c in comparisons],
    }
    (run_dir / "compare.json").write_text(json.dumps(payload, indent=2, default=lambda o: list(o) if isinstance(o, tuple) else float(o)), encoding="utf-8")
    flips.to_csv(run_dir / "flips.csv", index=False)
    if figures:
        for c in comparisons:
            plot_comparison(results, c, run_dir / f"compare_{c.variant}.png")
    return reports, comparisons, flips


def plot_comparison(results, comparison: Comparison, path: str | Path | None = None):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ok = results[results["status"] == "ok"]
    a = ok[ok["variant"] == comparison.baseline].set_index("id")["confidence"].astype(float)
    b = ok[ok["variant"] == comparison.variant].set_index("id")["confidence"].astype(float)
    common = a.index.intersection(b.index)
    shift = (b.loc[common] - a.loc[common]).to_numpy()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.hist(shift, bins=30, color="#4477aa", edgecolor="white")
    ax1.axvline(0, color="k", lw=1)
    ax1.set_xlabel(f"confidence({comparison.variant}) − confidence({comparison.baseline})")
    ax1.set_ylabel("items")
    ax1.set_title(f"{comparison.n_flips} label flips")
    names = ["ΔWA", "ΔUAR"]
    vals = [comparison.delta_wa, comparison.delta_uar]
    ax2.errorbar(range(2), [v[0] for v in vals], yerr=[[v[0] - v[1] for v in vals], [v[2] - v[0] for v in vals]], fmt="o", capsize=6)
    ax2.axhline(0, color="k", lw=1)
    ax2.set_xticks(range(2), names)
    ax2.set_title(f"vs {comparison.baseline}: McNemar p={comparison.mcnemar_p:.3g}")
    return save_figure(fig, path)
