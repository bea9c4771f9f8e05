"""The voice's cues over a run: measured per row, compared between classes, read from the embeddings.

:func:`run_features` replays every scored row of a run (the exact audio the model saw) and
measures it with :mod:`workbench.explain.voice`; :func:`run_lld` keeps eGeMAPS' descriptors per
frame; :func:`cue_differences` says which cues differ between the predicted classes (or the
manifest's emotions): Cliff's delta with bootstrap intervals; :func:`cue_probe` says how much of
each cue a ridge regression can read from the utterance embeddings (R² under speaker-grouped
cross-validation, with bootstrap intervals) — what the embedding encodes.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from workbench.errors import ConfigError, WorkbenchError
from workbench.analysis.fusion import grouped_folds
from workbench.runs.folder import as_run_folder
from workbench.explain.voice import FEATURE_SETS, clip_features, egemaps_lld

logger = logging.getLogger(__name__)


def run_features(run_dir: Any, *, feature_set: str = "praat", variant: str | None = None):
    """Measure every finished row of a run on the audio the model scored.

    Parameters
    ----------
    run_dir : path or RunFolder
    feature_set : {"praat", "egemaps", "all"}
    variant : str, optional
        Only this variant's rows (default: all).

    Returns
    -------
    DataFrame
        One row per (item, variant): ``id``, ``variant``, ``pred`` (the predicted label),
        ``emotion`` (the manifest's, may be empty), ``speaker``, ``feature_error`` (empty when measured; otherwise the reason — one bad clip never
        stops the others) and one column per feature.
    """
    import pandas as pd

    if feature_set not in FEATURE_SETS:
        raise ConfigError(f"unknown feature set {feature_set!r}.", fix=f"use one of: {', '.join(FEATURE_SETS)}.")
    rf = as_run_folder(run_dir)
    results = rf.results()
    if variant is not None:
        names = list(dict.fromkeys(results["variant"].astype(str)))
        if variant not in names:
            raise ConfigError(f"variant {variant!r} is not in the run; it has {names}.", source=str(rf.path), fix="pass one of them.")
        results = results[results["variant"].astype(str) == variant]
    records = []
    for _, row in results[results["status"] == "ok"].iterrows():
        rec = {"id": str(row["id"]), "variant": str(row["variant"]), "pred": str(row.get("pred") or ""),
               "emotion": str(row.get("emotion") or ""), "speaker": str(row.get("speaker") or ""), "feature_error": ""}
        try:
            audio = rf.scored_audio(row)
            rec.update(clip_features(audio.samples, audio.sr, feature_set))
        except WorkbenchError as exc:
            rec["feature_error"] = str(exc)
        except Exception as exc:  # a Praat or openSMILE failure on one clip must not end the run
            rec["feature_error"] = f"{type(exc).__name__}: {exc}"
            logger.warning("features of %s failed: %s", rec["id"], rec["feature_error"])
        records.append(rec)
    return pd.DataFrame.from_records(records)


def run_lld(run_dir: Any, *, variant: str | None = None):
    """eGeMAPS low-level descriptors per 10 ms frame for every finished row of a run.

    Returns a long DataFrame: ``id``, ``variant``, ``start_s``, ``end_s`` and the 25 descriptors,
    one row per frame; a clip openSMILE cannot read is left out and logged (a warning), the rest go on.
    """
    import pandas as pd

    rf = as_run_folder(run_dir)
    results = rf.results()
    if variant is not None:
        names = list(dict.fromkeys(results["variant"].astype(str)))
        if variant not in names:
            raise ConfigError(f"variant {variant!r} is not in the run; it has {names}.", source=str(rf.path), fix="pass one of them.")
        results = results[results["variant"].astype(str) == variant]
    parts = []
    for _, row in results[results["status"] == "ok"].iterrows():
        try:
            audio = rf.scored_audio(row)
            lld = egemaps_lld(audio.samples, audio.sr)
        except Exception as exc:  # a WorkbenchError or openSMILE's own: one clip never stops the others
            logger.warning("eGeMAPS descriptors of %s failed: %s", row["id"], exc)
            continue
        lld.insert(0, "variant", str(row["variant"]))
        lld.insert(0, "id", str(row["id"]))
        parts.append(lld)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["id", "variant", "start_s", "end_s"])


def _cue_columns(features, cues: Sequence[str] | None) -> list[str]:
    numeric = [c for c in features.columns if c not in ("id", "variant", "pred", "emotion", "label", "feature_error", "speaker")
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
                    confidence: float = 0.95, min_items: int = 3, seed: int = 0):
    """Which cues differ between predicted classes: each class against all the others.

    Cliff's delta (a rank effect size: +1 when every item of the class is above every other
    item, 0 when the two overlap evenly) with a percentile bootstrap interval
    (``scipy.stats.bootstrap``, resampling each side).  A class with fewer than
    ``min_items`` measured items on either side is left out (it is listed with ``n`` only).

    Returns a tidy DataFrame: ``cue, label, n_class, n_rest, delta, low, high, median_class,
    median_rest``, sorted by ``|delta|``.
    """
    import pandas as pd
    from scipy.stats import bootstrap

    if label_column not in features.columns:
        raise ConfigError(f"no column {label_column!r} in the feature table.", fix=f"use one of: {', '.join(map(str, features.columns))}.")
    rows = []
    for cue in _cue_columns(features, cues):
        values = features[cue].to_numpy(dtype=np.float64)
        labels = features[label_column].fillna("").astype(str).to_numpy()
        ok = np.isfinite(values) & (labels != "")  # an item without a label is in no group
        for lab in sorted(set(labels[ok])):
            a, b = values[ok & (labels == lab)], values[ok & (labels != lab)]
            row = {"cue": cue, "label": lab, "n_class": len(a), "n_rest": len(b), "delta": np.nan, "low": np.nan, "high": np.nan,
                   "median_class": float(np.median(a)) if len(a) else np.nan, "median_rest": float(np.median(b)) if len(b) else np.nan}
            if len(a) >= min_items and len(b) >= min_items:
                row["delta"] = float(cliffs_delta(a, b))
                ci = bootstrap((a, b), cliffs_delta, n_resamples=n_boot, confidence_level=confidence, method="percentile",
                               vectorized=True, random_state=np.random.default_rng(seed)).confidence_interval
                row["low"], row["high"] = float(ci.low), float(ci.high)
            rows.append(row)
    out = pd.DataFrame(rows, columns=["cue", "label", "n_class", "n_rest", "delta", "low", "high", "median_class", "median_rest"])
    return out.reindex(out["delta"].abs().sort_values(ascending=False, na_position="last").index).reset_index(drop=True)


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

    Returns
    -------
    DataFrame
        ``cue, n, r2, low, high``: out-of-fold R² (1 − SSE/SST over all held-out
        predictions) and a percentile bootstrap interval over items.  R² near 0 (or below)
        says the embedding does not carry the cue linearly.
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
            rows.append({"cue": cue, "n": int(ok.sum()), "r2": np.nan, "low": np.nan, "high": np.nan})
            continue
        xs, ys, gs = x[ok], yv[ok], groups[ok]
        pred = np.full(len(ys), np.nan)
        for train, test in grouped_folds(gs, folds):
            model = make_pipeline(StandardScaler(), RidgeCV(alphas=list(alphas)))
            pred[test] = model.fit(xs[train], ys[train]).predict(xs[test])
        r2 = _r2(ys, pred)
        idx = rng.integers(0, len(ys), size=(n_boot, len(ys)))
        boots = np.array([_r2(ys[i], pred[i]) for i in idx])
        boots = boots[np.isfinite(boots)]
        tail = (1 - confidence) / 2 * 100
        low, high = (np.percentile(boots, [tail, 100 - tail]) if len(boots) else (np.nan, np.nan))
        rows.append({"cue": cue, "n": len(ys), "r2": r2, "low": float(low), "high": float(high)})
    return pd.DataFrame(rows, columns=["cue", "n", "r2", "low", "high"])


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    sst = float(np.sum((y - y.mean()) ** 2))
    return float(1 - np.sum((y - pred) ** 2) / sst) if sst > 0 else float("nan")
