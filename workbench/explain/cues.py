"""The voice's cues over a run: measured per row, compared between classes, read from the embeddings.

:func:`run_features` replays every scored row of a run (the exact audio the model saw) and
measures it with :mod:`workbench.explain.voice`; :func:`run_lld` keeps eGeMAPS' descriptors per
frame; :func:`cue_differences` says which cues differ between the predicted classes (or the
manifest's emotions): Cliff's delta with bootstrap intervals; :func:`cue_probe` says how much of
each cue a ridge regression can read from the utterance embeddings (R² under speaker-grouped
cross-validation, with bootstrap intervals) — what the embedding encodes.

Rate.  Every row is measured at the rate the audio had before the model's resampling to
16 kHz (``rate="source"``, the default: a 44.1 kHz file keeps its upper band for eGeMAPS'
spectral cues and Praat's HNR), or on the model's input (``rate="model"``); the rate used is
the row's ``sample_rate_hz`` and :func:`excluded_summary` reports it per run.

Too small.  A class is compared only when it and the rest pass the one "too small" rule of
:func:`workbench.analysis.groups.small_group_reason` (the rule of ``metrics`` and ``listeners``);
a class that fails it is kept in the table with its reason in ``too_small`` and is never ranked
among the differences.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from workbench.errors import ConfigError, WorkbenchError
from workbench.paths import shell_command
from workbench.analysis.fusion import grouped_folds
from workbench.analysis.groups import small_group_reason
from workbench.analysis.interval_rule import THIN_SHARE
from workbench.analysis.stats import _blocks, cluster_draws, cluster_ids, speaker_interval_bounds, speaker_resampling
from workbench.runs.folder import RunFolderError, as_run_folder, select_rows

#: voice features of a run (`workbench features`), one fixed name per feature set
VOICE_FEATURES = {"praat": "features_praat.parquet", "egemaps": "features_egemaps.parquet", "all": "features_all.parquet",
                  "egemaps_lld": "features_egemaps_lld.parquet"}

#: the false discovery rate a cue difference must pass (Benjamini–Hochberg over every comparison large enough)
FDR = 0.05


def _features_name(feature_set: str, source: str) -> str:
    name = VOICE_FEATURES.get(feature_set)
    if name is None:
        raise ConfigError(f"unknown feature set {feature_set!r}.", source=source, fix=f"use one of: {', '.join(VOICE_FEATURES)}.")
    return name


def write_voice_features(run_dir: Any, table: Any, feature_set: str):
    """Store a voice-feature table (a DataFrame) in the run folder under the set's fixed name (:data:`VOICE_FEATURES`)."""
    rf = as_run_folder(run_dir)
    name = _features_name(feature_set, str(rf.path))
    return rf.write_artifact(name, lambda f: table.to_parquet(f, index=False))


def voice_features(run_dir: Any, feature_set: str):
    """The voice-feature table stored by :func:`write_voice_features` (a DataFrame)."""
    rf = as_run_folder(run_dir)
    name = _features_name(feature_set, str(rf.path))
    table = rf.artifact(name, default=None)
    if table is None:
        raise RunFolderError(f"has no {name}.", source=str(rf.path), fix=f"run `{shell_command('workbench', 'features', rf.path, '--set', feature_set)}` first.")
    return table
from workbench.explain.voice import EGEMAPS_VOICING, FEATURE_SETS, MEASUREMENT_COLUMNS, clip_features, egemaps_lld
from workbench.schema import text_values

#: where :func:`run_features` measures: the audio at its own rate, or the model's 16 kHz input
RATES = ("source", "model")

logger = logging.getLogger(__name__)


def run_features(run_dir: Any, *, feature_set: str = "praat", variant: str | None = None, rate: str = "source"):
    """Measure every finished row of a run on the audio the model scored.

    Parameters
    ----------
    run_dir : path or RunFolder
    feature_set : {"praat", "egemaps", "all"}
    variant : str, optional
        Only this variant's rows (default: all).
    rate : {"source", "model"}
        Measure the row's audio at the rate it had before the resampling to the model's 16 kHz
        (default), or the model's input itself.  Either way ``sample_rate_hz`` records it.

    Returns
    -------
    DataFrame
        One row per (item, variant): ``id``, ``variant``, ``pred`` (the predicted label),
        ``emotion`` (the manifest's, may be empty), ``speaker``, ``feature_error`` (empty when measured; otherwise the reason — one bad clip never
        stops the others), ``sample_rate_hz``, ``duration_s``, ``silence_s`` (digital silence left
        out), ``silence_frames`` of ``frames`` (10 ms frames left out) and one column per feature.

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> feats = wb.run_features(run_dir, feature_set="praat")
    >>> len(feats) == len(wb.RunFolder(run_dir).results(status="ok"))
    True
    >>> "f0_median_hz" in feats.columns, bool(feats["sample_rate_hz"].notna().any())
    (True, True)
    """
    import pandas as pd

    if feature_set not in FEATURE_SETS:
        raise ConfigError(f"unknown feature set {feature_set!r}.", fix=f"use one of: {', '.join(FEATURE_SETS)}.")
    if rate not in RATES:
        raise ConfigError(f"unknown rate {rate!r}.", fix=f"use one of: {', '.join(RATES)}.")
    rf = as_run_folder(run_dir)
    results = rf.results(variant=variant)  # every variant when None
    records = []
    for _, row in select_rows(results).iterrows():
        rec = {"id": str(row["id"]), "variant": str(row["variant"]), "pred": str(row.get("pred") or ""),
               "emotion": str(row.get("emotion") or ""), "speaker": str(row.get("speaker") or ""), "feature_error": ""}
        try:
            audio = rf.scored_audio(row, model_rate=rate == "model")
            rec.update(clip_features(audio.samples, audio.sr, feature_set))
        except WorkbenchError as exc:
            rec["feature_error"] = str(exc)
        except Exception as exc:  # a Praat or openSMILE failure on one clip must not end the run
            rec["feature_error"] = f"{type(exc).__name__}: {exc}"
            logger.warning("features of %s failed: %s", rec["id"], rec["feature_error"])
        records.append(rec)
    return pd.DataFrame.from_records(records)


def excluded_summary(features) -> dict[str, Any]:
    """What :func:`run_features` left out as digital silence, over the whole run.

    Returns ``rows`` measured, ``rows_with_silence``, ``silence_s`` (total seconds), ``silence_frames``
    of ``frames`` (10 ms Praat frames), ``sample_rates_hz`` (rate → rows measured at it) and ``by_row``:
    every row with silence left out, most first (``id``, ``variant``, ``silence_s``, ``silence_frames``, ``frames``).
    """
    ok = features[features["feature_error"] == ""] if "feature_error" in features.columns and len(features) else features
    out: dict[str, Any] = {"rows": int(len(ok)), "rows_with_silence": 0, "silence_s": 0.0, "silence_frames": 0, "frames": 0,
                           "sample_rates_hz": {}, "by_row": []}
    if not len(ok):
        return out
    if "sample_rate_hz" in ok.columns:
        rates = ok["sample_rate_hz"].dropna().astype(int).value_counts().sort_index()
        out["sample_rates_hz"] = {int(k): int(v) for k, v in rates.items()}
    if "silence_s" in ok.columns:
        sil = ok["silence_s"].fillna(0.0)
        out.update(rows_with_silence=int((sil > 0).sum()), silence_s=round(float(sil.sum()), 3),
                   silence_frames=int(ok["silence_frames"].fillna(0).sum()), frames=int(ok["frames"].fillna(0).sum()))
        worst = ok[sil > 0].sort_values("silence_s", ascending=False)
        out["by_row"] = [{"id": str(r["id"]), "variant": str(r["variant"]), "silence_s": float(r["silence_s"]),
                         "silence_frames": int(r["silence_frames"]), "frames": int(r["frames"])} for _, r in worst.iterrows()]
    return out


#: per feature set, the cue that is NaN exactly when the tracker found no voiced frame in a measured clip
_VOICING = {"praat": "f0_median_hz", "egemaps": f"egemaps.{EGEMAPS_VOICING}"}


def unvoiced_summary(features) -> dict[str, Any]:
    """The measured rows in which a pitch tracker found no voiced frame: their F0, jitter, shimmer, HNR (and eGeMAPS'
    formant and harmonic) cues are undefined, NaN, and the comparisons of those cues leave them out.

    Returns ``rows`` (how many), ``of`` (rows measured), ``by_set`` (feature set → rows with no voiced frame by its
    tracker) and ``by_row`` (``id``, ``variant``; the first 50).  A clip of noise, a tone under the F0 floor or a
    breath is measured, but not as a voice: openSMILE wrote 0 for its F0 and HNR, which were compared as values."""
    ok = features[features["feature_error"] == ""] if "feature_error" in features.columns and len(features) else features
    cols = {name: c for name, c in _VOICING.items() if c in ok.columns}
    none = ok[list(cols.values())].isna() if cols and len(ok) else None
    if none is None:
        return {"rows": 0, "of": int(len(ok)), "by_set": {}, "by_row": []}
    hit = none.any(axis=1).to_numpy()
    return {"rows": int(hit.sum()), "of": int(len(ok)), "by_set": {name: int(none[c].sum()) for name, c in cols.items()},
            "by_row": [{"id": str(r["id"]), "variant": str(r["variant"])} for _, r in ok[hit].head(50).iterrows()],
            "few_voiced": _few_voiced(ok)}


#: Praat's F0 range is the 5th to 95th percentile of the voiced frames: under 20 of them, 5 % of the frames is less
#: than one, and the two percentiles are the extremes (interpolated between the two lowest, the two highest)
MIN_VOICED_FRAMES = 20


def _few_voiced(ok) -> dict[str, Any]:
    """The measured rows with some but fewer than :data:`MIN_VOICED_FRAMES` voiced 10 ms Praat frames (``rows``, the
    first 50 ``by_row`` with their ``voiced_frames``)."""
    if not {"voiced_fraction", "frames", "silence_frames"} <= set(ok.columns) or not len(ok):
        return {"rows": 0, "by_row": []}
    voiced = (ok["voiced_fraction"] * (ok["frames"] - ok["silence_frames"].fillna(0))).round().fillna(0).astype(int)
    few = ok[(voiced > 0) & (voiced < MIN_VOICED_FRAMES)]
    return {"rows": int(len(few)), "by_row": [{"id": str(r["id"]), "variant": str(r["variant"]), "voiced_frames": int(voiced[i])}
                                              for i, r in few.head(50).iterrows()]}


def few_voiced_words(summary: dict[str, Any]) -> str:
    """The rows of :func:`unvoiced_summary` with few voiced frames in one line, or ``""``."""
    few = summary.get("few_voiced") or {"rows": 0}
    if not few["rows"]:
        return ""
    shown = ", ".join(f"{r['id']} [{r['variant']}] {r['voiced_frames']}" for r in few["by_row"][:5]) + (" …" if few["rows"] > 5 else "")
    return (f"{few['rows']} of {summary['of']} measured row(s) have fewer than {MIN_VOICED_FRAMES} voiced 10 ms frames ({shown}): "
            "their F0 range and percentiles (5th, 95th) are the extremes of a handful of frames, and their jitter and shimmer "
            "rest on a few periods")


def unvoiced_words(summary: dict[str, Any]) -> str:
    """:func:`unvoiced_summary` in one line, or ``""`` when every measured row has a voiced frame."""
    if not summary["rows"]:
        return ""
    shown = ", ".join(f"{r['id']} [{r['variant']}]" for r in summary["by_row"][:5]) + (" …" if summary["rows"] > 5 else "")
    sets = "; ".join(f"{k}: {v}" for k, v in summary["by_set"].items() if v)
    return (f"{summary['rows']} of {summary['of']} measured row(s) have no voiced frame ({shown}; by set: {sets}): their F0, "
            "jitter, shimmer and HNR cues (and eGeMAPS' formant and harmonic ones) are undefined, NaN, not 0, and are left "
            "out of the comparisons of those cues")


def run_lld(run_dir: Any, *, variant: str | None = None, rate: str = "source"):
    """eGeMAPS low-level descriptors per 10 ms frame for every finished row of a run.

    Returns a long DataFrame: ``id``, ``variant``, ``sample_rate_hz`` (the clip's own rate, before the
    model's resampling, or 16 kHz with ``rate="model"``), ``start_s``, ``end_s`` and the 25 descriptors, one row per frame kept (frames
    over digital silence are dropped, :func:`workbench.explain.voice.egemaps_lld`); a clip openSMILE
    cannot read is left out and logged (a warning), the rest go on.
    """
    import pandas as pd

    if rate not in RATES:
        raise ConfigError(f"unknown rate {rate!r}.", fix=f"use one of: {', '.join(RATES)}.")
    rf = as_run_folder(run_dir)
    results = rf.results(variant=variant)  # every variant when None
    parts = []
    for _, row in select_rows(results).iterrows():
        try:
            audio = rf.scored_audio(row, model_rate=rate == "model")
            lld = egemaps_lld(audio.samples, audio.sr)
        except Exception as exc:  # a WorkbenchError or openSMILE's own: one clip never stops the others
            logger.warning("eGeMAPS descriptors of %s failed: %s", row["id"], exc)
            continue
        lld.insert(0, "sample_rate_hz", int(audio.sr))
        lld.insert(0, "variant", str(row["variant"]))
        lld.insert(0, "id", str(row["id"]))
        parts.append(lld)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["id", "variant", "start_s", "end_s"])


def _cue_columns(features, cues: Sequence[str] | None) -> list[str]:
    numeric = [c for c in features.columns if c not in ("id", "variant", "pred", "emotion", "label", "feature_error", "speaker",
                                                        *MEASUREMENT_COLUMNS)
               and np.issubdtype(features[c].dtype, np.number)]
    if cues is None:
        return numeric
    unknown = [c for c in cues if c not in numeric]
    if unknown:
        raise ConfigError(f"cue(s) {unknown} are not numeric feature columns.", fix=f"choose from: {', '.join(numeric)}.")
    return list(cues)


def cliffs_delta(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Cliff's delta P(X > Y) − P(X < Y) from the Mann–Whitney U statistic (vectorised along ``axis``)."""
    from scipy.stats import mannwhitneyu

    u = mannwhitneyu(x, y, axis=axis, method="asymptotic").statistic
    return 2.0 * u / (np.shape(x)[axis] * np.shape(y)[axis]) - 1.0


def cue_differences(features, *, label_column: str = "pred", cues: Sequence[str] | None = None, n_boot: int = 999,
                    confidence: float = 0.95, seed: int = 0, speaker_column: str = "speaker"):
    """Which cues differ between predicted classes: each class against all the others.

    Cliff's delta (a rank effect size: +1 when every item of the class is above every other
    item, 0 when the two overlap evenly) with a percentile bootstrap interval
    (``scipy.stats.bootstrap``, resampling each side).  A class, or its rest, that is too small
    by :func:`workbench.analysis.groups.small_group_reason` (the one rule of ``metrics`` and
    ``listeners``) gets its reason in ``too_small``; its delta is still given, but it is sorted
    after every comparison that passed and is not a finding.

    A comparison large enough has a two-sided Mann–Whitney U p-value (``p``; the test whose U is Cliff's delta) and
    its Benjamini–Hochberg ``q`` over every comparison large enough (``scipy.stats.false_discovery_control``): thirteen
    cues × nine classes are over a hundred intervals, a handful of which exclude 0 by chance.  ``differs``: the
    interval excludes 0 and ``q`` < :data:`FDR` (a large |delta| of a sample that does not differ is no cue).

    Returns a tidy DataFrame: ``cue, label, n_class, n_rest, delta, low, high, resampled, kept, drawn, thin, p, test, q, differs, median_class,
    median_rest, too_small`` (``""`` when the comparison is large enough), the comparisons that
    pass first, each part sorted by ``|delta|``.

    With speakers (``speaker_column`` filled, 5 or more: :func:`~workbench.analysis.stats.speaker_resampling`) the
    interval is the cluster bootstrap, drawing speakers and keeping all their clips on whichever side they fall, its
    bounds the t-corrected percentile over those speakers (:func:`_clustered_deltas`), and ``p`` the two-sided normal p of its standard error: clips of one speaker share the
    voice, and Mann–Whitney's p and the per-side bootstrap took them as independent, so a class predicted mostly for
    a few speakers "differed" in any cue those speakers happen to have.  ``resampled`` says which ("12 speakers" or
    "items"); ``test`` which p.  ``kept`` of ``drawn`` resamples had a delta (a speaker resample may hold no clip of the
    class, or none of its rest: left out); ``thin`` marks one under 90 % (``!! 120 of 999 resamples``).
    """
    import pandas as pd
    from scipy.stats import bootstrap

    if label_column not in features.columns:
        raise ConfigError(f"no column {label_column!r} in the feature table.", fix=f"use one of: {', '.join(map(str, features.columns))}.")
    from scipy.stats import false_discovery_control, mannwhitneyu

    columns = ["cue", "label", "n_class", "n_rest", "delta", "low", "high", "resampled", "kept", "drawn", "thin", "p", "test", "q", "differs",
               "median_class", "median_rest", "too_small"]
    rows = []
    clusters, unit = speaker_resampling(features, speaker_column)
    for cue in _cue_columns(features, cues):
        values = features[cue].to_numpy(dtype=np.float64)
        labels = text_values(features[label_column]).to_numpy()
        ok = np.isfinite(values) & (labels != "")  # an item without a label is in no group
        for lab in sorted(set(labels[ok])):
            a, b = values[ok & (labels == lab)], values[ok & (labels != lab)]
            sides = (("class", small_group_reason({lab: len(a)})), ("rest", small_group_reason({"rest": len(b)})))
            too_small = "; ".join(f"{side} {reason}" for side, reason in sides if reason)
            if not len(b):  # one class only: "rest 0 items (< 20)" read as a small group, not as nothing to compare with
                too_small = f"every item with a value is {lab!r}: no other class to compare it with"
            row = {"cue": cue, "label": lab, "n_class": len(a), "n_rest": len(b), "delta": np.nan, "low": np.nan, "high": np.nan,
                   "resampled": "", "kept": 0, "drawn": 0, "thin": "", "p": np.nan, "test": "", "q": np.nan, "differs": False,
                   "median_class": float(np.median(a)) if len(a) else np.nan, "median_rest": float(np.median(b)) if len(b) else np.nan,
                   "too_small": too_small}
            if len(a) >= 2 and len(b) >= 2 and clusters is not None:
                ids = cluster_ids(clusters)
                row.update(_clustered_deltas(a, b, ids[ok & (labels == lab)], ids[ok & (labels != lab)], n_boot=n_boot,
                                             confidence=confidence, seed=seed), resampled=unit["short"])
            elif len(a) >= 2 and len(b) >= 2:
                row["delta"] = float(cliffs_delta(a, b))
                ci = bootstrap((a, b), cliffs_delta, n_resamples=n_boot, confidence_level=confidence, method="percentile",
                               vectorized=True, random_state=np.random.default_rng(seed)).confidence_interval
                row["low"], row["high"], row["resampled"] = float(ci.low), float(ci.high), "items (each side)"
                row["kept"] = row["drawn"] = int(n_boot)  # each side resampled within itself: delta defined in every resample
                row["p"], row["test"] = float(mannwhitneyu(a, b, method="asymptotic").pvalue), "Mann-Whitney U"
            rows.append(row)
    out = pd.DataFrame(rows, columns=columns)
    out.attrs["interval_unit"] = unit
    if out.empty:
        return out
    tested = (out["too_small"] == "") & out["p"].notna()
    if tested.any():
        out.loc[tested, "q"] = false_discovery_control(out.loc[tested, "p"].to_numpy(float), method="bh")
    out["differs"] = tested & (out["q"] < FDR) & ((out["low"] > 0) | (out["high"] < 0))
    order = pd.DataFrame({"small": out["too_small"] != "", "size": -out["delta"].abs()}).sort_values(["small", "size"], na_position="last")
    return out.loc[order.index].reset_index(drop=True)


def _clustered_deltas(a: np.ndarray, b: np.ndarray, ca: np.ndarray, cb: np.ndarray, *, n_boot: int, confidence: float,
                      seed: int) -> dict:
    """Cliff's delta of ``a`` against ``b`` with the cluster bootstrap: each resample draws the clusters (``ca``, ``cb``:
    the items' cluster codes) with replacement and weighs each item by its cluster's draws, delta being
    ``sum w_i w_j sign(a_i - b_j) / (sum w_a sum w_b)`` (the resample's items repeated by weight), from one sort and a
    cumulative sum per resample.  Returns ``delta, low, high`` (the t-corrected percentile over the comparison's
    clusters, :func:`~workbench.analysis.interval_rule.speaker_interval_bounds`) and ``p``, ``test``: the two-sided normal p
    of delta = 0 from the resamples' standard error."""
    from scipy.stats import norm

    codes = np.unique(np.concatenate([ca, cb]), return_inverse=True)[1]  # the clusters of this comparison only
    ca, cb = codes[: len(ca)], codes[len(ca):]
    rng = np.random.default_rng(seed)
    order = np.argsort(a, kind="stable")
    sorted_a = a[order]
    below_at, above_at = np.searchsorted(sorted_a, b, side="left"), np.searchsorted(sorted_a, b, side="right")

    def delta(wa: np.ndarray, wb: np.ndarray) -> np.ndarray:
        cum = np.concatenate([np.zeros((len(wa), 1)), np.cumsum(wa[:, order], axis=1)], axis=1)
        total = cum[:, -1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            return ((total - cum[:, above_at] - cum[:, below_at]) * wb).sum(axis=1) / (total[:, 0] * wb.sum(axis=1))

    point = float(delta(np.ones((1, len(a))), np.ones((1, len(b))))[0])
    boots = np.empty(0)  # a block of resamples at a time (the same numbers): (draws, items) at once grew with both
    for _, size in _blocks(n_boot, 2 * (len(a) + len(b)) + int(codes.max()) + 1):
        draws = cluster_draws(rng, int(codes.max()) + 1, size)
        boots = np.concatenate([boots, delta(draws[:, ca], draws[:, cb])])
    drawn, boots = len(boots), boots[np.isfinite(boots)]  # left out: a resample without the class, or without its rest
    # the one rule of speaker intervals (interval_rule): the t-corrected percentile over this comparison's speakers, as
    # the unit words say; the plain percentile here was too narrow on few speakers
    low, high = speaker_interval_bounds(boots, confidence, int(codes.max()) + 1)
    se = float(np.std(boots, ddof=1)) if len(boots) > 1 else float("nan")
    p = float(2 * norm.sf(abs(point) / se)) if se > 0 else (1.0 if point == 0 else 0.0) if se == 0 else float("nan")
    return {"delta": point, "low": float(low), "high": float(high), "p": p, "kept": len(boots), "drawn": drawn,
            "thin": thin_mark(len(boots), drawn), "test": "normal p from the speaker bootstrap's standard error"}


def thin_mark(kept: int, drawn: int) -> str:
    """``!! 120 of 999 resamples`` for an interval (and its p) resting on under 90 % of its resamples, else ``""``."""
    return f"!! {kept} of {drawn} resamples" if drawn and kept < THIN_SHARE * drawn else ""


def r2_thin_words(cue: str, kept: int, drawn: int) -> str:
    """A probed cue's R² interval from under 90 % of its resamples, in words (its note), or ``""``."""
    if not thin_mark(kept, drawn):
        return ""
    return (f"{cue}: interval from {kept} of {drawn} resamples ({kept / drawn:.0%}): R² is undefined in the others (the cue "
            "does not vary over the speakers drawn there), which are left out, so the interval and p describe only the "
            "resamples where R² exists; read them as rough")


def differing(differences):
    """The rows of :func:`cue_differences` that differ measurably: large enough, interval excluding 0, ``q`` < :data:`FDR`."""
    return differences[differences["differs"].astype(bool)]


def reportable_differences(differences):
    """The rows of :func:`cue_differences` that may be reported as differences: large enough, with a delta."""
    return differences[(differences["too_small"] == "") & differences["delta"].notna()]


def cue_probe(embeddings: np.ndarray, features, groups: Sequence, *, cues: Sequence[str] | None = None, folds: int = 5,
              alphas: Sequence[float] = (0.1, 1.0, 10.0, 100.0, 1000.0), n_boot: int = 999, confidence: float = 0.95, seed: int = 0):
    """How well each cue can be read from the utterance embeddings: ridge, speaker-grouped CV.

    Parameters
    ----------
    embeddings : ndarray, shape (n_items, D)
        Utterance embeddings, row ``i`` ↔ ``features.iloc[i]``.
    features : DataFrame
        Cue columns (e.g. from :func:`run_features`).
    groups : sequence, length n_items
        Speakers (or sessions): no group is on both sides of a fold
        (:func:`workbench.analysis.fusion.grouped_folds`, the splitter of the probe and fusion).
    alphas : ridge penalties tried by an inner efficient leave-one-out (``RidgeCV``) on the
        training side of each fold only.

    folds : folds asked; capped at the distinct groups of a cue's rows (:func:`workbench.analysis.fusion.fold_plan`),
        so each row says the folds it used.

    Returns
    -------
    DataFrame
        ``cue, n, folds, r2, low, high, resampled, kept, drawn, p, q, carried, correction, note``: the items and the folds used (0: not probed,
        under 6 items or 2 groups, or one value on every item, which ``note`` says), out-of-fold R² (1 − SSE/SST over all
        held-out predictions) and a percentile bootstrap interval over speakers (the cluster bootstrap: all clips of a drawn
        speaker together, as the folds keep them; ``resampled`` says "12 speakers", or "items" under 5 speakers, which
        ``note`` then says holds for those speakers only: :func:`~workbench.analysis.stats.speaker_resampling`); ``kept`` of
        ``drawn`` resamples had an R² (a resample whose speakers share one value of the cue has none), under 90 % said in ``note``.  R² near 0 (or below) says the embedding
        does not carry the cue linearly.  ``p``: the one-sided p of R² ≤ 0 (its bootstrap standard error); ``q``: its Benjamini–Hochberg
        value over the family of probed cues (:func:`probe_correction`).  ``carried`` is True where the interval lies
        above 0 *and* ``q`` < (1 − confidence) / 2: one cue alone is the interval's rule, and 88 eGeMAPS cues tested
        each at 2.5 % would call about two null cues carried.  ``correction`` names the method and the family size;
        ``attrs["correction"]`` has them as fields.
    """
    import pandas as pd
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(embeddings, dtype=np.float64)
    groups = np.asarray(groups)
    if x.ndim != 2 or len(x) != len(features) or len(groups) != len(features):
        raise ConfigError(f"embeddings {x.shape}, features ({len(features)} rows) and groups ({len(groups)}) do not line up.",
                          fix="pass one embedding row and one group per feature row, in the same order.")
    rng = np.random.default_rng(seed)
    rows = []
    for cue in _cue_columns(features, cues):
        yv = features[cue].to_numpy(dtype=np.float64)
        ok = np.isfinite(yv) & np.isfinite(x).all(axis=1)
        if ok.sum() < 6 or len(set(groups[ok].tolist())) < 2:
            rows.append({"cue": cue, "n": int(ok.sum()), "folds": 0, "r2": np.nan, "low": np.nan, "high": np.nan,
                         "note": "not probed: fewer than 6 measured items or 2 speakers"})
            continue
        if np.ptp(yv[ok]) == 0:  # R² = 1 − SSE/SST has SST 0: a NaN R² without a word read as "not carried"
            rows.append({"cue": cue, "n": int(ok.sum()), "folds": 0, "r2": np.nan, "low": np.nan, "high": np.nan,
                         "note": f"not probed: the same value ({yv[ok][0]:.3g}) on every item, so R² is undefined"})
            continue
        xs, ys, gs = x[ok], yv[ok], groups[ok]
        pred = np.full(len(ys), np.nan)
        splits = grouped_folds(gs, folds)
        for train, test in splits:
            model = make_pipeline(StandardScaler(), RidgeCV(alphas=list(alphas)))
            pred[test] = model.fit(xs[train], ys[train]).predict(xs[test])
        r2 = _r2(ys, pred)
        low, high, boots, unit = r2_interval(ys, pred, gs, n_boot=n_boot, confidence=confidence, rng=rng)  # boots: the finite ones
        rows.append({"cue": cue, "n": len(ys), "folds": len(splits), "r2": r2, "low": low, "high": high, "resampled": unit["short"],
                     "kept": len(boots), "drawn": int(n_boot), "p": float(_one_sided_p(r2, boots)),
                     "note": "; ".join(filter(None, (unit["note"], r2_thin_words(cue, len(boots), int(n_boot)))))})
    out = pd.DataFrame(rows, columns=["cue", "n", "folds", "r2", "low", "high", "resampled", "kept", "drawn", "p", "note"])
    return probe_correction(out, confidence=confidence)


def r2_interval(y: np.ndarray, pred: np.ndarray, speakers: Sequence, *, n_boot: int = 999, confidence: float = 0.95,
                rng=None) -> tuple[float, float, np.ndarray, dict]:
    """The percentile bootstrap interval of :func:`_r2` of held-out predictions ``pred`` of ``y``: ``(low, high, the
    finite resampled R²s, unit)``.  It resamples ``speakers`` (the cluster bootstrap, all clips of a drawn speaker
    together, as the folds keep them; ``unit``: :func:`~workbench.analysis.stats.speaker_resampling`), or items under
    5 speakers.  Resampling items took a speaker's clips as independent: with a speaker effect in the cue the interval
    covered the R² over speakers far less often than 95 % (tests/test_cluster_intervals.py)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    clusters, unit = speaker_resampling(speakers)
    # a block of resamples at a time (the same numbers): (draws, items) weights at once grew with items x draws
    ids = cluster_ids(clusters) if clusters is not None else None
    width = len(y) + (int(ids.max()) + 1 if ids is not None and len(ids) else 0)
    boots = np.concatenate([np.empty(0)] + [
        _weighted_r2(y, pred, cluster_draws(rng, int(ids.max()) + 1, b)[:, ids]) if ids is not None else
        np.array([_r2(y[i], pred[i]) for i in rng.integers(0, len(y), size=(b, len(y)))]) for _, b in _blocks(n_boot, width)])
    boots = boots[np.isfinite(boots)]
    # the speaker intervals' one rule: t-corrected over the speakers (as the unit says), the plain percentile over items
    low, high = speaker_interval_bounds(boots, confidence, None if ids is None else int(ids.max()) + 1)
    return float(low), float(high), boots, unit


def _one_sided_p(r2: float, boots: np.ndarray) -> float:
    """The one-sided p of R² ≤ 0 from the bootstrap's standard error (``norm.sf(r2 / se)``): the count of draws at or
    under 0 cannot go below 1 / (draws + 1), so with the default 999 draws one cue carried among 88 could never pass
    the family's correction (it needs p < 0.025 / 88)."""
    from scipy.stats import norm

    if len(boots) < 2:
        return float("nan")
    se = float(np.std(boots, ddof=1))
    if not se > 0:  # every draw the same R²: no spread to judge it by
        return 0.0 if r2 > 0 else 1.0
    return float(norm.sf(r2 / se))


def probe_correction(out, *, confidence: float = 0.95):
    """``q`` (Benjamini–Hochberg over the probed cues' ``p``, ``scipy.stats.false_discovery_control``), ``carried``
    (interval above 0 and ``q`` below the level) and ``correction`` (its words) added to a probe table; the fields in
    ``attrs["correction"]``: ``method``, ``family`` (probed cues), ``fdr``, ``uncorrected`` (cues whose interval lies
    above 0) and ``carried``."""
    from scipy.stats import false_discovery_control

    level = (1 - confidence) / 2
    probed = out["p"].notna().to_numpy()
    out.insert(out.columns.get_loc("p") + 1, "q", np.nan)
    if probed.any():
        out.loc[probed, "q"] = false_discovery_control(out.loc[probed, "p"].to_numpy(float), method="bh")
    family = int(probed.sum())
    words = f"Benjamini-Hochberg over {family} probed cue(s), FDR {level:g}"
    out.insert(out.columns.get_loc("q") + 1, "carried", (out["low"] > 0) & (out["q"] < level))  # NaN compares False
    out.insert(out.columns.get_loc("carried") + 1, "correction", np.where(probed, words, ""))
    info = {"method": "Benjamini-Hochberg (scipy.stats.false_discovery_control) on the one-sided p of R² <= 0 from its "
                      "bootstrap standard error",
            "family": family, "fdr": level, "uncorrected": int((out["low"] > 0).sum()), "carried": int(out["carried"].sum()),
            "words": words}
    out.attrs["correction"] = info
    return out


def _weighted_r2(y: np.ndarray, pred: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:func:`_r2` of each resample given as item weights ``(b, n)`` (a cluster bootstrap: an item's weight is how often
    its speaker was drawn), the same number as :func:`_r2` of the resample's items repeated by their weights."""
    total = weights.sum(axis=1)
    mean = (weights @ y) / total
    sst = (weights * (y[None, :] - mean[:, None]) ** 2).sum(axis=1)
    sse = weights @ (y - pred) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sst > 0, 1 - sse / sst, np.nan)


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    sst = float(np.sum((y - y.mean()) ** 2))
    return float(1 - np.sum((y - pred) ** 2) / sst) if sst > 0 else float("nan")
