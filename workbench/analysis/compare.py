"""Compare preprocessing variants of one run, or runs of one manifest, item by item.

Within one run (:func:`compare_results`, :func:`compare_run`) the variants are
compared with a baseline variant.  Across runs (:func:`compare_runs`) — other
checkpoints, precisions or engines on the same manifest — rows are paired by
(item id, variant) after checking that every run scored the same items and the
same audio (``source_sha256``, ``chain_hash``, segment), and each run is
compared with the first one by the same statistics, plus how much the runs
agree (:func:`agreement`).  Both give:

* per-variant metrics with bootstrap intervals (:func:`workbench.analysis.metrics.evaluate`);
* Δ WA and Δ UAR against the baseline with **paired** bootstrap intervals
  (the same resampled items for both variants);
* the **McNemar exact test** on the correct/incorrect pairs: with ``b`` items
  right only under the baseline and ``c`` right only under the variant,
  ``p = min(1, 2 · P[X ≤ min(b, c)])`` for ``X ~ Binomial(b + c, 1/2)``;
* the **flips** table: items whose predicted label changed, with both labels,
  confidences and findings;
* confidence shifts: variant confidence minus baseline confidence per item.

Between runs, in addition (every pair of runs, per variant):

* **Cohen's kappa** of the top-1 labels (sklearn's ``cohen_kappa_score``;
  undefined — NaN — when both runs give one and the same label to every item)
  and the **top-1 agreement** (share of items with the same label);
* **max |Δ score|** over the nine scores of an item, and the **total variation
  distance** ``½ Σ_k |p_k − q_k|`` of its two score vectors (max and mean over
  items);
* the **cosine** of the item's two utterance embeddings (min and mean over
  items; only when both runs used the *same checkpoint* — other precisions or
  engines.  Two different checkpoints embed into unrelated spaces even when
  the dimension matches, so a cosine between them means nothing: it is
  n/a, with that reason, in ``cosine_note``);
* the items ranked by TVD, with both run folders, id and variant: :func:`show_item`
  shows one (both predictions, both score vectors, the audio as scored), and
  :class:`workbench.views.widgets.LowConfidenceBrowser` opens it from its run folder.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.data.cards import overlap_messages
from workbench.errors import ConfigError, WorkbenchError
from workbench.files import json_safe
from workbench.analysis.metrics import Report, evaluate, uar, wa
from workbench.labels import RANDOM_WEIGHTS_BANNER
from workbench.model.agreement import agreement, cohen_kappa, item_distances, row_cosines  # noqa: F401  (public here too)
from workbench.files import strict_json
from workbench.runs.folder import RunFolder, as_run_folder, atomic_write, select_mask, select_rows
from workbench.schema import SCORE_PREFIX, score_column, score_columns, score_labels
from workbench.files import json_default
from workbench.limits import spreadsheet_safe
from workbench.serialize import save_figure

# the files a comparison of runs writes (names fixed here, never taken from ids or variants)
COMPARISON_JSON, AGREEMENT_CSV, FLIPS_CSV, ITEMS_CSV, RUNS_FIGURE = (
    "comparison.json", "agreement.csv", "flips.csv", "disagreements.csv", "comparison.png")


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
    scope: str = ""  # between runs: the variant whose rows are paired (baseline/variant then name runs)
    # items without a corpus label are in neither n_paired nor n_flips (those count the same items); their flips apart
    n_unlabelled: int = 0
    n_flips_unlabelled: int = 0

    def to_dict(self) -> dict:
        return self.__dict__.copy()

    def render(self) -> str:
        d_wa, d_uar = self.delta_wa, self.delta_uar
        scope = f" [{self.scope}]" if self.scope else ""
        return (
            f"{self.variant} vs {self.baseline}{scope} ({self.n_paired} paired items): "
            f"ΔWA {d_wa[0]:+.3f} [{d_wa[1]:+.3f}, {d_wa[2]:+.3f}], ΔUAR {d_uar[0]:+.3f} [{d_uar[1]:+.3f}, {d_uar[2]:+.3f}], "
            f"McNemar b={self.mcnemar_b} c={self.mcnemar_c} p={self.mcnemar_p:.4f}, "
            f"{self.n_flips} label flips among them"
            + (f" (+{self.n_flips_unlabelled} among {self.n_unlabelled} unlabelled items, not paired for accuracy)" if self.n_unlabelled else "")
            + f", confidence shift mean {self.confidence_shift_mean:+.3f}"
        )


def _predicted(rows, classes: list[str], restrict: bool) -> np.ndarray:
    """Top labels of ``rows``; with ``restrict`` the argmax over ``classes`` only (as metrics does)."""
    if restrict and classes and len(rows):
        scores = rows[score_columns(classes)].to_numpy(dtype=float)
        return np.asarray(classes)[np.argmax(scores, axis=1)]
    return rows["pred"].astype(str).to_numpy()


def _scores_over_union(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Score matrices of two runs over the union of their label sets (a class one model lacks scores 0),
    so that score distances stay total variation distances when a fine-tuned head is set beside its parent."""
    union = list(dict.fromkeys(score_labels(a) + score_labels(b)))

    def matrix(rows):
        have = set(score_labels(rows))
        return np.column_stack([rows[score_column(c)].to_numpy(dtype=float) if c in have else np.zeros(len(rows)) for c in union])

    return matrix(a), matrix(b)


def _paired_deltas_two_truths(a: tuple, b: tuple, *, n_boot: int, seed: int):
    """Δ WA and Δ UAR (b − a) when the two runs have different label sets, each scored against its own truth.

    ``a``, ``b``: ``(truth, predictions, classes)`` over the same items.  The bootstrap resamples items
    jointly (:func:`paired_bootstrap_delta` over item indices; the "prediction" it passes says which run).
    """
    index = np.arange(len(a[0]))

    def of(metric):
        def fn(i, which):
            if not len(i):
                return float("nan")
            truth, pred, classes = b if which[0] == 1 else a
            return metric(truth[i], pred[i], classes)
        return fn

    which_a, which_b = np.zeros(len(index), dtype=int), np.ones(len(index), dtype=int)
    delta_wa = paired_bootstrap_delta(of(lambda t, p, c: wa(t, p)), index, which_a, which_b, n=n_boot, seed=seed)
    delta_uar = paired_bootstrap_delta(of(uar), index, which_a, which_b, n=n_boot, seed=seed)
    return delta_wa, delta_uar


def _compare_pair(a, b, *, baseline: str, variant: str, scope: str = "", n_boot: int, seed: int, restrict: bool):
    """Paired statistics of two tables of finished rows indexed by item id (same order).

    Returns ``(Comparison, flip rows)``; a flip row has ``pred_a``/``pred_b`` … keys.
    """
    # each run is scored against its own truth: a fine-tuned head's labels (EmoDB's boredom …) are not the
    # parent's nine, and an item counts when it has a class in both label sets
    truth_a = a["emotion"].fillna("").astype(str)
    truth_b = b["emotion"].reindex(a.index).fillna("").astype(str)
    labelled = (truth_a != "") & (truth_b != "")
    y, y_b = truth_a[labelled].to_numpy(), truth_b[labelled].to_numpy()
    classes = [c for c in score_labels(a) if c in set(y)]
    classes_b = [c for c in score_labels(b) if c in set(y_b)]
    pa = _predicted(a.loc[labelled], classes, restrict)
    pb = _predicted(b.loc[labelled], classes_b, restrict)
    right_a, right_b = pa == y, pb == y_b
    if (y == y_b).all() and classes == classes_b:
        delta_wa = paired_bootstrap_delta(wa, y, pa, pb, n=n_boot, seed=seed)
        delta_uar = paired_bootstrap_delta(lambda t, p: uar(t, p, classes), y, pa, pb, n=n_boot, seed=seed)
    else:
        delta_wa, delta_uar = _paired_deltas_two_truths((y, pa, classes), (y_b, pb, classes_b), n_boot=n_boot, seed=seed)
    nb, nc = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    shift = (b["confidence"].astype(float) - a["confidence"].astype(float)).to_numpy()
    flipped = (a["pred"].astype(str) != b["pred"].astype(str)).to_numpy()
    is_labelled = labelled.to_numpy()
    flip_rows = []
    for item_id in a.index[flipped]:
        ra, rb = a.loc[item_id], b.loc[item_id]
        emo = ra["emotion"] if isinstance(ra["emotion"], str) else ""
        flip_rows.append({
            "id": item_id, "emotion": emo,
            "pred_a": ra["pred"], "confidence_a": float(ra["confidence"]),
            "pred_b": rb["pred"], "confidence_b": float(rb["confidence"]),
            "fixed": bool(rb["pred"] == emo and ra["pred"] != emo) if emo else None,
            "broke": bool(ra["pred"] == emo and rb["pred"] != emo) if emo else None,
            "findings_a": ra.get("finding_codes", ""), "findings_b": rb.get("finding_codes", ""), "path": ra.get("path", ""),
        })
    comparison = Comparison(
        baseline=baseline, variant=variant, n_paired=int(len(y)),
        delta_wa=delta_wa, delta_uar=delta_uar,
        mcnemar_b=nb, mcnemar_c=nc, mcnemar_p=mcnemar_exact(nb, nc), n_flips=int((flipped & is_labelled).sum()),
        confidence_shift_mean=float(np.mean(shift)) if len(shift) else float("nan"),
        confidence_shift_median=float(np.median(shift)) if len(shift) else float("nan"),
        scope=scope, n_unlabelled=int((~is_labelled).sum()), n_flips_unlabelled=int((flipped & ~is_labelled).sum()),
    )
    return comparison, flip_rows


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
    ok = select_rows(results)
    base = ok[ok["variant"] == baseline].set_index("id")
    comparisons, flip_rows = [], []
    for v in variants:
        if v == baseline:
            continue
        other = ok[ok["variant"] == v].set_index("id")
        common = base.index.intersection(other.index)
        c, rows = _compare_pair(base.loc[common], other.loc[common], baseline=baseline, variant=v, n_boot=n_boot, seed=seed, restrict=restrict)
        comparisons.append(c)
        for r in rows:
            flip_rows.append({
                "id": r["id"], "baseline": baseline, "variant": v, "emotion": r["emotion"],
                "pred_baseline": r["pred_a"], "confidence_baseline": r["confidence_a"],
                "pred_variant": r["pred_b"], "confidence_variant": r["confidence_b"], "fixed": r["fixed"], "broke": r["broke"],
                "findings_baseline": r["findings_a"], "findings_variant": r["findings_b"], "path": r["path"],
            })
    flips = pd.DataFrame(flip_rows, columns=[
        "id", "baseline", "variant", "emotion", "pred_baseline", "confidence_baseline", "pred_variant", "confidence_variant",
        "fixed", "broke", "findings_baseline", "findings_variant", "path"])
    return reports, comparisons, flips


def default_baseline(results) -> str:
    """``raw`` when the run has it, else its first variant."""
    variants = list(dict.fromkeys(results["variant"].astype(str)))
    return "raw" if "raw" in variants else variants[0]


def compare_run(run_dir: str | Path | RunFolder, *, baseline: str | None = None, n_boot: int = 1000, seed: int = 0, restrict: bool = False,
                figures: bool = True, out: str | Path | None = None):
    """Compare the variants of a run folder; writes ``compare.json``, ``flips.csv`` and figures.

    They go into the run folder (as they always have) unless ``out`` names another folder.
    """
    rf = as_run_folder(run_dir)
    results = rf.results()
    baseline = baseline or default_baseline(results)
    reports, comparisons, flips = compare_results(results, baseline=baseline, n_boot=n_boot, seed=seed, restrict=restrict)
    payload = {
        "baseline": baseline,
        "metrics": {v: {k: getattr(r, k) for k in ("n_scored", "wa", "uar", "macro_f1", "ci", "ece")} for v, r in reports.items()},
        "comparisons": [c.to_dict() for c in comparisons],
    }
    if out is None:  # into the run folder: only through RunFolder (no links followed, strict JSON, random-weights flag)
        rf.write_json("compare.json", payload)
        rf.write_artifact("flips.csv", lambda f: spreadsheet_safe(flips).to_csv(f, index=False), text=True)
        if figures:
            # figure names are numbered, never made from variant names
            for i, c in enumerate(comparisons, 1):
                rf.write_figure(f"compare_{i}.png", plot_comparison(results, c), meta={"variant": c.variant, "baseline": c.baseline})
        return reports, comparisons, flips
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    atomic_write(dest / "compare.json", lambda f: f.write(strict_json(payload)), text=True)
    atomic_write(dest / "flips.csv", lambda f: spreadsheet_safe(flips).to_csv(f, index=False), text=True)
    if figures:
        for i, c in enumerate(comparisons, 1):
            plot_comparison(results, c, dest / f"compare_{i}.png")
    return reports, comparisons, flips


def plot_comparison(results, comparison: Comparison, path: str | Path | None = None):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ok = select_rows(results)
    a = ok[ok["variant"] == comparison.baseline].set_index("id")["confidence"].astype(float)
    b = ok[ok["variant"] == comparison.variant].set_index("id")["confidence"].astype(float)
    common = a.index.intersection(b.index)
    shift = (b.loc[common] - a.loc[common]).to_numpy()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.hist(shift, bins=30, color="#4477aa", edgecolor="white")
    ax1.axvline(0, color="k", lw=1)
    ax1.set_xlabel(f"confidence({comparison.variant}) − confidence({comparison.baseline})")
    ax1.set_ylabel("items")
    ax1.set_title(f"{comparison.n_flips} label flips in {comparison.n_paired} labelled items"
                  + (f" (+{comparison.n_flips_unlabelled} unlabelled)" if comparison.n_unlabelled else ""))
    names = ["ΔWA", "ΔUAR"]
    vals = [comparison.delta_wa, comparison.delta_uar]
    ax2.errorbar(range(2), [v[0] for v in vals], yerr=[[v[0] - v[1] for v in vals], [v[2] - v[0] for v in vals]], fmt="o", capsize=6)
    ax2.axhline(0, color="k", lw=1)
    ax2.set_xticks(range(2), names)
    ax2.set_title(f"vs {comparison.baseline}: McNemar p={comparison.mcnemar_p:.3g}")
    return save_figure(fig, path)


# ---------------------------------------------------------------------------
# between runs
# ---------------------------------------------------------------------------
def embeddings_comparable(run_a: dict, run_b: dict) -> str:
    """``""`` when two runs (:func:`describe_run`) used the same checkpoint, so their embeddings share a space; else why not.

    The same checkpoint: equal weight checksums, or, where a checksum is missing, the same model id/folder.
    """
    ca = run_a.get("weights_checksum") or run_a.get("checksum") or ""
    cb = run_b.get("weights_checksum") or run_b.get("checksum") or ""
    if ca and cb:
        same = ca == cb
    else:
        same = bool(run_a.get("checkpoint")) and run_a.get("checkpoint") == run_b.get("checkpoint")
    if same:
        return ""
    return (f"runs {run_a.get('name', '?')} and {run_b.get('name', '?')} used different checkpoints "
            f"({run_a.get('model')} {ca or 'no checksum'} / {run_b.get('model')} {cb or 'no checksum'}): their embeddings live in "
            "unrelated spaces, so a cosine between them means nothing")


def _run_letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"R{i + 1}"


def describe_run(rf: RunFolder) -> dict:
    """What scored a run: folder, model, checkpoint checksum, device, dtype, engine, manifest."""
    m = rf.model_ref
    cfg = rf.config
    return {
        "run_dir": str(rf.path.resolve()), "model": m.get("id") or cfg.get("model"), "checkpoint": m.get("path") or cfg.get("model"),
        "checksum": (m.get("checksum") or "")[:16], "device": m.get("device") or cfg.get("device"),
        "dtype": m.get("dtype") or cfg.get("dtype"), "engine": "ray" if str(cfg.get("device") or "").startswith("ray:") else "local",
        "manifest": cfg.get("manifest"), "random_weights": rf.random_weights,
        "weights_checksum": _weights_checksum(m),
    }


def _weights_checksum(model: dict) -> str:
    """The checksum of the weights a run used: an ONNX export records its graph's, and the source checkpoint's in its
    ``model.json`` (so a run on the exported graph and one on the checkpoint are recognised as the same weights)."""
    if model.get("kind") == "onnx" and model.get("path"):
        try:
            meta = json.loads((Path(model["path"]) / "model.json").read_text(encoding="utf-8"))
            return str(meta.get("source_checksum_sha256") or "")[:16] or (model.get("checksum") or "")[:16]
        except (OSError, ValueError):
            pass
    return (model.get("checksum") or "")[:16]


def _ids_text(keys: Sequence[tuple[str, str]], limit: int = 10) -> str:
    keys = list(keys)
    shown = ", ".join(f"{i} [{v}]" for i, v in keys[:limit])
    return shown + (f" … and {len(keys) - limit} more" if len(keys) > limit else "")


# column, what it means, whether a missing value on one side is no evidence (a failed row has no audio hash)
_SAME_ITEM_COLUMNS = (("source_sha256", "the audio (source_sha256)", True), ("chain_hash", "the preprocessing (chain_hash)", True),
                      ("start", "the segment start", False), ("duration", "the segment duration", False))


def _same(x, y, missing_ok: bool = True) -> bool:
    xn = x is None or (isinstance(x, float) and x != x)
    yn = y is None or (isinstance(y, float) and y != y)
    if xn or yn:
        # a hash missing on one side is no evidence; a segment bound missing on one side is another segment (the whole file)
        return True if missing_ok else xn == yn
    if isinstance(x, (float, int, np.floating, np.integer)) and isinstance(y, (float, int, np.floating, np.integer)):
        return bool(np.isclose(float(x), float(y), rtol=0, atol=1e-9))
    return str(x) == str(y)


def check_comparable(runs: Sequence[RunFolder], variants: Sequence[str]) -> None:
    """Refuse (ConfigError) unless every run has the same rows and scored the same audio, row by row.

    The intake settings that shape the audio (target rate, resampler, its
    quality, mixdown) must match the first run's; rows are ``(id, variant)`` of
    ``variants``; per row the audio hash, the variant's chain hash and the
    segment must match the first run's.
    """
    base = runs[0]
    # the audio settings that change what the model hears (limits and timeouts only refuse inputs)
    shaping = ("target_sr", "resampler", "soxr_quality", "mixdown")
    ref_audio = {k: getattr(base.audio_config(), k, None) for k in shaping}
    for rf in runs[1:]:
        other = {k: getattr(rf.audio_config(), k, None) for k in shaping}
        differ = {k: (ref_audio[k], other[k]) for k in shaping if ref_audio[k] != other[k]}
        if differ:
            what = ", ".join(f"{k} {a!r} ≠ {b!r}" for k, (a, b) in differ.items())
            raise ConfigError(f"the run scored its audio with other intake settings than {base.path} ({what}).", source=str(rf.path),
                              fix="compare runs made with the same audio settings; to compare resamplers or mixdowns, "
                                  "make them variants of one run.")
    ref = base.results()
    ref = ref[ref["variant"].astype(str).isin(variants)].set_index(["id", "variant"])
    ref_keys = set(ref.index)
    for rf in runs[1:]:
        res = rf.results()
        res = res[res["variant"].astype(str).isin(variants)].set_index(["id", "variant"])
        keys = set(res.index)
        missing, extra = sorted(ref_keys - keys), sorted(keys - ref_keys)
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"{len(missing)} row(s) of {base.path} are not in it ({_ids_text(missing)})")
            if extra:
                parts.append(f"it has {len(extra)} row(s) that {base.path} lacks ({_ids_text(extra)})")
            raise ConfigError(f"the runs do not cover the same items: {'; '.join(parts)}.", source=str(rf.path),
                              fix="compare runs made from the same manifest and variants (finish or re-run the shorter one).")
        common = sorted(ref_keys)
        a, b = ref.loc[common], res.loc[common]
        for col, what, missing_ok in _SAME_ITEM_COLUMNS:
            if col not in a.columns or col not in b.columns:
                continue
            differ = [k for k, x, y in zip(common, a[col].tolist(), b[col].tolist()) if not _same(x, y, missing_ok)]
            if differ:
                raise ConfigError(f"{len(differ)} row(s) differ from {base.path} in {what}: {_ids_text(differ)}.", source=str(rf.path),
                                  fix="compare runs of the same audio files and variants; re-run one of them on the other's manifest.")


@dataclass
class RunsComparison:
    """Runs of one manifest compared row by row (see :func:`compare_runs`)."""

    runs: list[dict]  # describe_run() of each run, plus its letter ("name")
    variants: list[str]
    reports: dict[str, dict[str, Report]]  # run name → variant → metrics
    comparisons: list[Comparison]  # each run against the first, per variant
    agreement: Any  # DataFrame: one row per (run pair, variant)
    flips: Any  # DataFrame: items whose label changed against the first run
    items: Any  # DataFrame: every paired row of every run pair, ranked by TVD within a pair
    excluded: dict = field(default_factory=dict)  # "A/B [variant]" → ids failed in either run
    restricted: bool = False

    @property
    def random_weights(self) -> bool:
        return any(r.get("random_weights") for r in self.runs)

    def _overlaps(self, name: str) -> bool:
        return any(r["name"] == name and r.get("training_overlap") for r in self.runs)

    def disagreements(self, n: int = 10, *, pair: tuple[str, str] | None = None):
        """The ``n`` rows of each run pair (and variant) where the two runs disagree most (largest TVD)."""
        df = self.items
        if pair is not None:
            df = df[(df["run_a"] == pair[0]) & (df["run_b"] == pair[1])]
        return df.groupby(["run_a", "run_b", "variant"], sort=False, group_keys=False).head(n).reset_index(drop=True)

    def to_dict(self) -> dict:
        return json_safe({
            "runs": self.runs, "variants": self.variants, "restricted": self.restricted,
            "warning": RANDOM_WEIGHTS_BANNER if self.random_weights else None,
            "metrics": {name: {v: {k: getattr(r, k) for k in ("n_scored", "n_failed", "wa", "uar", "macro_f1", "ci", "ece")}
                               for v, r in by_v.items()} for name, by_v in self.reports.items()},
            "comparisons": [c.to_dict() for c in self.comparisons],
            "agreement": self.agreement.to_dict(orient="records"),
            "excluded": {k: {"count": len(v), "ids": v[:50]} for k, v in self.excluded.items()},
            "per_class": {v: self.per_class(v).to_dict(orient="records") for v in self.variants},
            "n_flips": int((self.flips["emotion"].fillna("").astype(str) != "").sum()) if len(self.flips) else 0,
            "n_flips_unlabelled": int((self.flips["emotion"].fillna("").astype(str) == "").sum()) if len(self.flips) else 0,
        })

    def per_class(self, variant: str | None = None):
        """Recall per class of each run (before/after for a checkpoint and its fine-tuned head), one row per class.

        Classes are the union of the runs' classes (a fine-tuned head's boredom beside the parent's nine); a class
        a run does not score shows as missing there.  Columns: ``class``, then ``recall <run>`` and ``n <run>`` per
        run, then ``Δ recall`` of each later run against the first where both score the class.
        """
        import pandas as pd

        variant = variant or self.variants[0]
        names = list(self.reports)
        classes = list(dict.fromkeys(c for n in names for c in self.reports[n][variant].classes))
        rows = []
        for c in classes:
            row: dict[str, Any] = {"class": c}
            for n in names:
                d = self.reports[n][variant].per_class.get(c)
                row[f"recall {n}"] = d["recall"] if d and d.get("support") else float("nan")
                row[f"n {n}"] = int(d["support"]) if d else 0
            for n in names[1:]:
                row[f"Δ recall {n}−{names[0]}"] = row[f"recall {n}"] - row[f"recall {names[0]}"]
            rows.append(row)
        return pd.DataFrame(rows)

    def render(self, top: int = 5) -> str:
        lines = []
        if self.random_weights:
            lines.append(f"!! {RANDOM_WEIGHTS_BANNER}")
        for r in self.runs:
            lines += [f"!! run {r['name']}: {w}" for w in r.get("training_overlap") or []]
        for r in self.runs:
            lines.append(f"{r['name']}: {r['run_dir']}  model {r['model']} ({r['checksum']}) {r['device']} {r['dtype']} [{r['engine']}]")
        for name, by_v in self.reports.items():
            mark = " [corpus in this checkpoint's training data]" if self._overlaps(name) else ""
            for v, rep in by_v.items():
                ci = rep.ci
                lines.append(f"  {name}{mark} [{v}]: WA {rep.wa:.3f} [{ci['wa'][0]:.3f}, {ci['wa'][1]:.3f}]  UAR {rep.uar:.3f} "
                             f"[{ci['uar'][0]:.3f}, {ci['uar'][1]:.3f}]  macro-F1 {rep.macro_f1:.3f}  ({rep.n_scored} scored, {rep.n_failed} failed)")
        for c in self.comparisons:
            lines.append(c.render())
        for v in self.variants:
            lines.append(f"recall per class [{v}] (before → after; NaN: the run's model has no such class or no item of it):")
            lines.append(self.per_class(v).to_string(index=False, float_format=lambda x: f"{x:.3f}", na_rep="—"))
        for rec in self.agreement.to_dict(orient="records"):
            cos = "n/a" if rec["cosine_min"] is None or rec["cosine_min"] != rec["cosine_min"] else f"{rec['cosine_min']:.4f}/{rec['cosine_mean']:.4f}"
            if cos == "n/a" and rec.get("cosine_note"):
                cos += f" ({rec['cosine_note']})"
            lines.append(f"{rec['run_b']} vs {rec['run_a']} [{rec['variant']}] ({rec['n']} items): kappa {_fmt(rec['kappa'])}, "
                         f"top-1 agreement {_fmt(rec['top1_agreement'])} ({rec['n_label_flips']} label flips), "
                         f"max |Δ score| {_fmt(rec['max_abs_delta_score'], 4)}, TVD mean {_fmt(rec['mean_tvd'], 4)} max {_fmt(rec['max_tvd'], 4)}, "
                         f"embedding cosine min/mean {cos}")
        for k, ids in self.excluded.items():
            lines.append(f"  excluded from {k}: {len(ids)} row(s) failed in either run")
        if top and len(self.items):
            lines.append(f"most different items (top {top} per pair):")
            cols = ["run_a", "run_b", "variant", "id", "emotion", "pred_a", "pred_b", "tvd", "max_abs_delta"]
            lines.append(self.disagreements(top)[cols].to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        return "\n".join(lines)

    def html(self, top: int = 10, *, title: str | None = None) -> str:
        """The comparison as one HTML fragment; every id, label, path and name is escaped."""
        import pandas as pd

        parts = []
        if self.random_weights:
            parts.append(f"<blockquote><b>⚠ {html.escape(RANDOM_WEIGHTS_BANNER)} Every number below is meaningless; "
                         "it only shows the comparison works.</b></blockquote>")
        if title:
            parts.append(f"<h1>{html.escape(title)}</h1>")
        for r in self.runs:
            for w in r.get("training_overlap") or []:
                parts.append(f"<blockquote><b>⚠ run {html.escape(str(r['name']))}: {html.escape(w)}</b></blockquote>")
        parts.append("<h3>Runs</h3>" + pd.DataFrame(self.runs)[["name", "run_dir", "model", "checksum", "device", "dtype", "engine"]]
                     .to_html(index=False, escape=True))
        rows = []
        for name, by_v in self.reports.items():
            for v, rep in by_v.items():
                rows.append({"run": name + (" ⚠ seen in training" if self._overlaps(name) else ""), "variant": v,
                             "scored": rep.n_scored, "failed": rep.n_failed,
                             "WA [95% CI]": _ci_text(rep.wa, rep.ci["wa"]), "UAR [95% CI]": _ci_text(rep.uar, rep.ci["uar"]),
                             "macro-F1 [95% CI]": _ci_text(rep.macro_f1, rep.ci["macro_f1"])})
        parts.append("<h3>Metrics</h3>" + pd.DataFrame(rows).to_html(index=False, escape=True))
        if self.comparisons:
            rows = [{"run": c.variant, "vs": c.baseline, "variant": c.scope, "paired": c.n_paired,
                     "ΔWA [95% CI]": _ci_text(c.delta_wa[0], c.delta_wa[1:], signed=True),
                     "ΔUAR [95% CI]": _ci_text(c.delta_uar[0], c.delta_uar[1:], signed=True),
                     "McNemar b / c": f"{c.mcnemar_b} / {c.mcnemar_c}", "p": f"{c.mcnemar_p:.3g}", "label flips": c.n_flips,
                     "unlabelled (flips)": f"{c.n_unlabelled} ({c.n_flips_unlabelled})"}
                    for c in self.comparisons]
            parts.append("<h3>Against the first run (paired bootstrap, exact McNemar)</h3>" + pd.DataFrame(rows).to_html(index=False, escape=True))
        for v in self.variants:
            parts.append(f"<h3>Recall per class [{html.escape(str(v))}]: each run against the first</h3>"
                         "<p>A class one model does not have (a fine-tuned head's own label, or one of the nine the head "
                         "dropped) shows as —.</p>"
                         + self.per_class(v).to_html(index=False, escape=True, float_format=lambda x: f"{x:.3f}", na_rep="—"))
        parts.append("<h3>Agreement</h3>" + self.agreement.to_html(index=False, escape=True, float_format=lambda x: f"{x:.4f}", na_rep="n/a"))
        if len(self.flips):
            parts.append(f"<h3>Label flips ({len(self.flips)})</h3>" + self.flips.head(50).to_html(index=False, escape=True, float_format=lambda x: f"{x:.3f}"))
        if len(self.items):
            cols = ["run_a", "run_b", "variant", "id", "emotion", "pred_a", "confidence_a", "pred_b", "confidence_b", "tvd", "max_abs_delta", "cosine"]
            parts.append(f"<h3>Most different items (top {top} per pair, by total variation distance)</h3>"
                         + self.disagreements(top)[cols].to_html(index=False, escape=True, float_format=lambda x: f"{x:.4f}", na_rep="n/a"))
        for k, ids in self.excluded.items():
            parts.append(f"<p>excluded from {html.escape(k)}: {len(ids)} row(s) failed in either run: "
                         f"{html.escape(', '.join(map(str, ids[:20])))}{' …' if len(ids) > 20 else ''}</p>")
        return "\n".join(parts)


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None or x != x else f"{x:.{digits}f}"


def _ci_text(value, ci, *, signed: bool = False) -> str:
    f = "+.3f" if signed else ".3f"
    if value != value:
        return "n/a"
    return f"{value:{f}} [{ci[0]:{f}}, {ci[1]:{f}}]"


def compare_runs(run_dirs: Sequence[str | Path | RunFolder], *, variants: Sequence[str] | None = None, n_boot: int = 1000,
                 seed: int = 0, restrict: bool = False) -> RunsComparison:
    """Compare runs of the same manifest (other checkpoints, precisions, engines) row by row.

    Rows pair by ``(id, variant)`` over ``variants`` (default: the variants all
    runs share).  Refuses, listing the ids, when the runs hold other rows or
    scored other audio (see :func:`check_comparable`).  Each run gets metrics
    with intervals per variant; each later run is compared with the first (paired
    bootstrap Δ WA/UAR, exact McNemar, flips); every pair of runs gets
    :func:`agreement` and its items ranked by total variation distance.  Rows
    that failed in either run of a pair are excluded and listed.
    """
    import pandas as pd

    runs = [as_run_folder(r) for r in run_dirs]
    if len(runs) < 2:
        raise ConfigError("comparing runs needs at least two run folders.", fix="pass two or more run folders (one folder compares its variants).")
    seen: dict[Path, int] = {}
    for i, rf in enumerate(runs):
        key = rf.path.resolve()
        if key in seen:
            raise ConfigError(f"the same run folder is given twice (positions {seen[key] + 1} and {i + 1}).", source=str(rf.path),
                              fix="pass each run folder once.")
        seen[key] = i
    names = [_run_letter(i) for i in range(len(runs))]
    tables = [rf.results() for rf in runs]
    shared = [v for v in dict.fromkeys(tables[0]["variant"].astype(str)) if all(v in set(t["variant"].astype(str)) for t in tables[1:])]
    if variants:
        unknown = [v for v in variants if v not in shared]
        if unknown:
            raise ConfigError(f"variant(s) {unknown} are not in every run; the runs share {shared}.", fix="pass --variant with one they share.")
        shared = list(variants)
    if not shared:
        raise ConfigError("the runs share no variant.", source=", ".join(str(r.path) for r in runs),
                          fix="compare runs made with the same variants (the default is raw).")
    check_comparable(runs, shared)
    embs = [rf.embeddings() for rf in runs]
    described = [{"name": n, **describe_run(rf)} for n, rf in zip(names, runs)]
    for d, t in zip(described, tables):  # a run whose checkpoint trained on this corpus is marked wherever it appears
        d["training_overlap"] = overlap_messages(d["model"], t) or overlap_messages(d.get("checkpoint"), t)
    reports = {n: {v: evaluate(t, variant=v, n_boot=n_boot, seed=seed, restrict=restrict) for v in shared} for n, t in zip(names, tables)}

    # positional index of every finished row, per run: (id, variant) → row number in results/embeddings
    def ok_positions(t):
        ok = select_mask(t)
        return {(str(i), str(v)): k for k, (i, v, good) in enumerate(zip(t["id"], t["variant"], ok)) if good}

    positions = [ok_positions(t) for t in tables]
    comparisons, flip_rows, agree_rows, item_frames, excluded = [], [], [], [], {}
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            for v in shared:
                all_keys = [(str(a), str(b)) for a, b in zip(tables[i]["id"], tables[i]["variant"]) if str(b) == v]
                keys = [k for k in all_keys if k in positions[i] and k in positions[j]]
                dropped = [k[0] for k in all_keys if k not in positions[i] or k not in positions[j]]
                if dropped:
                    excluded[f"{names[j]}/{names[i]} [{v}]"] = dropped
                ia = np.array([positions[i][k] for k in keys], dtype=np.int64)
                ib = np.array([positions[j][k] for k in keys], dtype=np.int64)
                a = tables[i].iloc[ia].set_index("id")
                b = tables[j].iloc[ib].set_index("id")
                sa, sb = _scores_over_union(a, b)
                ea, eb = np.asarray(embs[i][ia]), np.asarray(embs[j][ib])
                same_dim = ea.ndim == 2 and eb.ndim == 2 and ea.shape[1] == eb.shape[1] and ea.shape[1] > 0
                other_space = embeddings_comparable(described[i], described[j])
                cosine_note = other_space or ("" if same_dim else "the embeddings are missing or have other dimensions")
                same_dim = same_dim and not other_space
                agree_rows.append({"run_a": names[i], "run_b": names[j], "variant": v,
                                   **agreement(a["pred"].astype(str), b["pred"].astype(str), sa, sb,
                                               ea if same_dim else None, eb if same_dim else None),
                                   "cosine_note": cosine_note})
                mx, tvd = item_distances(sa, sb) if len(keys) else (np.zeros(0), np.zeros(0))
                cos = row_cosines(ea, eb) if same_dim and len(keys) else np.full(len(keys), np.nan)
                items = pd.DataFrame({
                    "run_a": names[i], "run_b": names[j], "run_dir_a": described[i]["run_dir"], "run_dir_b": described[j]["run_dir"],
                    "id": [k[0] for k in keys], "variant": v, "emotion": a["emotion"].fillna("").astype(str).to_numpy(),
                    "pred_a": a["pred"].astype(str).to_numpy(), "confidence_a": a["confidence"].astype(float).to_numpy(),
                    "pred_b": b["pred"].astype(str).to_numpy(), "confidence_b": b["confidence"].astype(float).to_numpy(),
                    "label_flip": (a["pred"].astype(str).to_numpy() != b["pred"].astype(str).to_numpy()),
                    "tvd": tvd, "max_abs_delta": mx, "cosine": cos,
                })
                item_frames.append(items.sort_values(["tvd", "max_abs_delta"], ascending=False, kind="stable"))
                if i == 0:
                    c, rows = _compare_pair(a, b, baseline=names[0], variant=names[j], scope=v, n_boot=n_boot, seed=seed, restrict=restrict)
                    comparisons.append(c)
                    for r in rows:
                        flip_rows.append({"id": r["id"], "variant": v, "run_a": names[0], "run_b": names[j], "emotion": r["emotion"],
                                          "pred_a": r["pred_a"], "confidence_a": r["confidence_a"], "pred_b": r["pred_b"],
                                          "confidence_b": r["confidence_b"], "fixed": r["fixed"], "broke": r["broke"],
                                          "findings_a": r["findings_a"], "findings_b": r["findings_b"], "path": r["path"]})
    flips = pd.DataFrame(flip_rows, columns=["id", "variant", "run_a", "run_b", "emotion", "pred_a", "confidence_a", "pred_b", "confidence_b",
                                             "fixed", "broke", "findings_a", "findings_b", "path"])
    items = pd.concat(item_frames, ignore_index=True) if item_frames else pd.DataFrame()
    if len(items):
        items.insert(0, "rank", items.groupby(["run_a", "run_b", "variant"], sort=False).cumcount() + 1)
    return RunsComparison(described, shared, reports, comparisons, pd.DataFrame(agree_rows), flips, items, excluded, restrict)


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def write_runs_comparison(cmp: RunsComparison, out: str | Path, *, figures: bool = True) -> dict[str, Path]:
    """Write ``comparison.json``, ``agreement.csv``, ``flips.csv``, ``disagreements.csv`` (and ``comparison.png``) into ``out``.

    ``out`` must not lie inside any of the compared run folders (they belong to their runs).
    """
    out = Path(out)
    for r in cmp.runs:
        if _inside(out, Path(r["run_dir"])):
            raise ConfigError("the comparison folder lies inside a compared run folder.", source=str(out),
                              fix="pass --out with a folder outside the run folders (default: a new folder under runs/).")
    if out.exists() and not out.is_dir():
        raise ConfigError("exists and is not a folder.", source=str(out), fix="choose another --out folder.")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / COMPARISON_JSON, "agreement": out / AGREEMENT_CSV, "flips": out / FLIPS_CSV, "items": out / ITEMS_CSV}
    payload = json.dumps(cmp.to_dict(), indent=2, ensure_ascii=False, default=json_default)
    atomic_write(paths["json"], lambda f: f.write(payload), text=True)
    atomic_write(paths["agreement"], lambda f: spreadsheet_safe(cmp.agreement).to_csv(f, index=False), text=True)
    atomic_write(paths["flips"], lambda f: spreadsheet_safe(cmp.flips).to_csv(f, index=False), text=True)
    atomic_write(paths["items"], lambda f: spreadsheet_safe(cmp.items).to_csv(f, index=False), text=True)
    if figures:
        paths["figure"] = out / RUNS_FIGURE
        plot_runs_comparison(cmp, paths["figure"])
    return paths


def plot_runs_comparison(cmp: RunsComparison, path: str | Path | None = None):
    """Left: WA and UAR per run with 95 % intervals (first variant); right: per-item TVD of each run pair."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    v = cmp.variants[0]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    names = list(cmp.reports)
    for k, metric in enumerate(("wa", "uar")):
        vals = [getattr(cmp.reports[n][v], metric) for n in names]
        lo = [max(x - cmp.reports[n][v].ci[metric][0], 0) if x == x else 0 for n, x in zip(names, vals)]
        hi = [max(cmp.reports[n][v].ci[metric][1] - x, 0) if x == x else 0 for n, x in zip(names, vals)]
        ax1.errorbar(np.arange(len(names)) + (k - 0.5) * 0.2, vals, yerr=[lo, hi], fmt="o", capsize=5, label=metric.upper())
    ax1.set_xticks(range(len(names)), names)
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("95% bootstrap CI")
    ax1.set_title(f"metrics per run [{v}]")
    ax1.legend(fontsize=8)
    if len(cmp.items):
        for (ra, rb), sub in cmp.items[cmp.items["variant"] == v].groupby(["run_a", "run_b"], sort=False):
            ax2.hist(sub["tvd"].to_numpy(), bins=30, alpha=0.6, label=f"{rb} vs {ra}")
        ax2.legend(fontsize=8)
    ax2.set_xlabel("total variation distance of an item's scores")
    ax2.set_ylabel("items")
    ax2.set_title("how far the runs' scores move")
    return save_figure(fig, path)


def plot_item_scores(row_a: dict, row_b: dict, names: tuple[str, str] = ("A", "B"), ax=None):
    """The scores of one item under two runs, side by side over both models' classes (true label marked)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 2.8))
    keys = list(dict.fromkeys(k[len(SCORE_PREFIX):] for row in (row_a, row_b) for k in row if str(k).startswith(SCORE_PREFIX)))
    x = np.arange(len(keys))
    for k, (row, name) in enumerate(zip((row_a, row_b), names)):
        ax.bar(x + (k - 0.5) * 0.4, [float(row.get(score_column(c), 0.0) or 0.0) for c in keys], width=0.4, label=f"run {name}: {row['pred']}")
    emo = row_a.get("emotion")
    labels = [f"[{k}]" if k == emo else k for k in keys]
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("score")
    ax.legend(fontsize=8)
    ax.set_title("scores of the two runs ([true label])", fontsize=9)
    return save_figure(fig)


def show_item(items, i: int = 0) -> list:
    """Row ``i`` of a comparison's items table, for a notebook or a report.

    ``items`` is :attr:`RunsComparison.items`, :meth:`RunsComparison.disagreements`
    or one row of them.  Returns IPython display objects: both runs' predictions
    and distances (escaped HTML), their nine scores side by side (PNG) and the
    audio exactly as it was scored (:meth:`RunFolder.scored_audio`; both runs
    scored the same audio, which :func:`compare_runs` checked).  Show them with
    ``display(*show_item(...))``.  To open the item in the browser widget:
    ``LowConfidenceBrowser(row.run_dir_a).select(row.id, row.variant)``.
    """
    import io

    import matplotlib.pyplot as plt
    from IPython.display import HTML, Audio, Image

    row = items.iloc[i] if hasattr(items, "columns") else items  # a table, or one row of it
    rf_a, rf_b = as_run_folder(row["run_dir_a"]), as_run_folder(row["run_dir_b"])
    a, b = rf_a.row(str(row["id"]), str(row["variant"])), rf_b.row(str(row["id"]), str(row["variant"]))
    esc = html.escape
    cosine = row.get("cosine")
    head = HTML(
        f"<h4>{esc(str(row['id']))} [{esc(str(row['variant']))}]</h4><p>true <b>{esc(str(a.get('emotion') or '—'))}</b>; "
        f"run {esc(str(row['run_a']))}: <b>{esc(str(a['pred']))}</b> ({float(a['confidence']):.3f}); "
        f"run {esc(str(row['run_b']))}: <b>{esc(str(b['pred']))}</b> ({float(b['confidence']):.3f}); "
        f"TVD {float(row['tvd']):.4f}, max |Δ score| {float(row['max_abs_delta']):.4f}, "
        f"embedding cosine {_fmt(None if cosine is None else float(cosine), 4)}</p>")
    fig = plot_item_scores(a, b, (str(row["run_a"]), str(row["run_b"])))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    out = [head, Image(data=buf.getvalue(), format="png")]
    try:
        audio = rf_a.scored_audio(a)
        out.append(Audio(data=audio.samples, rate=audio.sr, normalize=True))
    except WorkbenchError as exc:  # a moved or changed file: the rest still shows
        out.append(HTML(f"<p><i>audio unavailable: {esc(str(exc))}</i></p>"))
    return out
