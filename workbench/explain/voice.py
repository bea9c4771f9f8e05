"""The voice beside the model: Praat's measures and the eGeMAPS set, per clip and per run.

Per clip (pure functions of ``(y, sr)``):

* :func:`pitch_intensity` — the F0 contour, intensity and voicing on one 10 ms grid
  (Praat's autocorrelation pitch and intensity, through praat-parselmouth), with a pitch
  range chosen for the speaker when none is given;
* :func:`voice_measures` — one row of cues: F0 statistics, voiced fraction, intensity,
  HNR, jitter (local) and shimmer (local), each Praat's own algorithm;
* :func:`egemaps_functionals` / :func:`egemaps_lld` — openSMILE's eGeMAPS v02 (Eyben et
  al. 2016): 88 functionals per clip, 25 low-level descriptors per 10 ms frame.

Per run: :func:`run_features` replays every scored row of a run (the exact audio the
model saw) and measures it; :func:`cue_differences` says which cues differ between the
predicted classes (Cliff's delta with bootstrap intervals); :func:`cue_probe` says how
much of each cue a ridge regression can read from the utterance embeddings (R² under
speaker-grouped cross-validation, with bootstrap intervals).

Automatic pitch range: a first pass over 50–700 Hz, then floor = 0.75 · q25 and
ceiling = 1.5 · q75 of the voiced F0 (Hirst 2011, "The analysis by synthesis of speech
melody", Journal of Speech Sciences 1(1); the two-pass idea is De Looze & Hirst 2008,
Speech Prosody).  A fixed 75–600 Hz range halves or doubles F0 on many voices; the
speaker's own range does not.

Measured (``tests/test_voice.py``): F0 of a 120–240 Hz glide and of a 220 Hz tone is
within ±0.5 semitone of the truth in the median and in 95 % of voiced frames.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from ..errors import AudioError, ConfigError

logger = logging.getLogger(__name__)

#: the first pass of the automatic range (Hz)
FIRST_PASS_RANGE = (50.0, 700.0)
#: Praat's own defaults, used when the first pass finds no voicing
PRAAT_DEFAULT_RANGE = (75.0, 600.0)
#: the time step of every contour here (s)
TIME_STEP = 0.01
#: feature sets of :func:`run_features`
FEATURE_SETS = ("praat", "egemaps", "all")
#: columns of :func:`voice_measures`, with units
PRAAT_COLUMNS = (
    "f0_median_hz", "f0_p5_hz", "f0_p95_hz", "f0_range_st", "f0_sd_st", "voiced_fraction",
    "intensity_mean_db", "intensity_sd_db", "hnr_db", "jitter_local", "shimmer_local", "f0_floor_hz", "f0_ceiling_hz",
)


def _sound(y: np.ndarray, sr: int):
    import parselmouth

    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise AudioError(f"voice measures need mono samples; got an array of shape {y.shape}.", fix="mix down to mono first (workbench.audio.to_mono).")
    if not np.all(np.isfinite(y)):
        raise AudioError("the samples hold NaN or infinity.", fix="decode the file again; the audio is corrupt.")
    if not (isinstance(sr, (int, np.integer)) and sr > 0):
        raise ConfigError(f"sample rate {sr!r} is not a positive integer.", fix="pass the rate in Hz, e.g. 16000.")
    return parselmouth.Sound(y, sampling_frequency=float(sr))


def _check_range(f0_floor: float | None, f0_ceiling: float | None) -> None:
    for name, v in (("f0_floor", f0_floor), ("f0_ceiling", f0_ceiling)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating))):
            raise ConfigError(f"{name}={v!r} is not a number of Hz.", fix=f"give {name} in Hz, e.g. 75, or leave it out for the automatic range.")
        if v is not None and not (np.isfinite(v) and 20.0 <= v <= 2000.0):
            raise ConfigError(f"{name}={v!r} Hz is outside 20–2000 Hz.", fix="give a pitch range in Hz, e.g. f0_floor=75, f0_ceiling=500, or leave both out for the automatic range.")
    if f0_floor is not None and f0_ceiling is not None and f0_floor >= f0_ceiling:
        raise ConfigError(f"f0_floor={f0_floor} Hz is not under f0_ceiling={f0_ceiling} Hz.", fix="swap them, or leave both out for the automatic range.")


def _pitch(snd, floor: float, ceiling: float):
    import parselmouth

    try:
        return snd.to_pitch_ac(time_step=TIME_STEP, pitch_floor=floor, pitch_ceiling=ceiling)
    except parselmouth.PraatError as exc:
        raise AudioError(f"Praat cannot track pitch on a {snd.duration * 1000:.0f} ms clip with floor {floor:.0f} Hz ({str(exc).splitlines()[0]}).",
                         fix=f"give a clip of at least {3000 / floor:.0f} ms, or a higher f0_floor.") from None


def pitch_range(y: np.ndarray, sr: int, *, f0_floor: float | None = None, f0_ceiling: float | None = None) -> tuple[float, float, str]:
    """The pitch range to track with: ``(floor_hz, ceiling_hz, method)``.

    A bound that is given is kept; a missing one comes from the two-pass rule (module
    docstring).  ``method`` is ``"given"``, ``"two-pass (Hirst 2011)"`` or
    ``"Praat default (no voicing in the first pass)"``.
    """
    _check_range(f0_floor, f0_ceiling)
    if f0_floor is not None and f0_ceiling is not None:
        return float(f0_floor), float(f0_ceiling), "given"
    snd = _sound(y, sr)
    f0 = _pitch(snd, *FIRST_PASS_RANGE).selected_array["frequency"]
    f0 = f0[f0 > 0]
    if len(f0) < 3:
        lo, hi, method = (*PRAAT_DEFAULT_RANGE, "Praat default (no voicing in the first pass)")
    else:
        q25, q75 = np.percentile(f0, [25, 75])
        lo, hi, method = 0.75 * q25, 1.5 * q75, "two-pass (Hirst 2011)"
    lo = float(f0_floor) if f0_floor is not None else float(lo)
    hi = float(f0_ceiling) if f0_ceiling is not None else float(hi)
    if lo >= hi:  # one bound given, the other found on the wrong side of it
        hi = lo * 4.0 if f0_ceiling is None else hi
        lo = hi / 4.0 if lo >= hi else lo
    return lo, hi, method


def pitch_intensity(y: np.ndarray, sr: int, *, f0_floor: float | None = None, f0_ceiling: float | None = None) -> dict[str, Any]:
    """F0 contour, intensity and voicing of a mono clip on one 10 ms grid.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono samples in [-1, 1].
    sr : int
        Sample rate in Hz.
    f0_floor, f0_ceiling : float, optional
        Pitch range in Hz; each one left out is found by the two-pass rule (module docstring).

    Returns
    -------
    dict
        ``times`` (T,) frame centres in s; ``f0_hz`` (T,) Praat's autocorrelation F0, NaN where
        unvoiced; ``intensity_db`` (T,) Praat's intensity in dB SPL-relative units (NaN where
        the intensity window does not fit); ``voiced`` (T,) bool; ``f0_floor`` and ``f0_ceiling``
        (Hz) the range used; ``range_method`` how it was chosen.

    Raises
    ------
    AudioError
        For non-mono, non-finite or too short audio (under three periods of the floor).
    ConfigError
        For a pitch range outside 20–2000 Hz or a floor not under the ceiling.
    """
    import parselmouth

    lo, hi, method = pitch_range(y, sr, f0_floor=f0_floor, f0_ceiling=f0_ceiling)
    snd = _sound(y, sr)
    pitch = _pitch(snd, lo, hi)
    times = np.asarray(pitch.xs(), dtype=np.float64)
    f0 = np.asarray(pitch.selected_array["frequency"], dtype=np.float64)
    voiced = f0 > 0
    f0 = np.where(voiced, f0, np.nan)
    try:
        inten = snd.to_intensity(minimum_pitch=lo, time_step=TIME_STEP)
        it, iv = np.asarray(inten.xs()), np.asarray(inten.values[0], dtype=np.float64)
        # the intensity window (3.2 periods of the floor) is longer than the pitch window:
        # its grid starts later, so it is read on the pitch grid and NaN outside its own
        intensity = np.interp(times, it, iv, left=np.nan, right=np.nan) if len(it) else np.full(len(times), np.nan)
    except parselmouth.PraatError:
        intensity = np.full(len(times), np.nan)
    return {"times": times, "f0_hz": f0, "intensity_db": intensity, "voiced": voiced,
            "f0_floor": lo, "f0_ceiling": hi, "range_method": method}


def voice_measures(y: np.ndarray, sr: int, *, f0_floor: float | None = None, f0_ceiling: float | None = None) -> dict[str, float]:
    """One row of Praat cues for a clip (keys: :data:`PRAAT_COLUMNS`).

    F0 statistics over voiced frames (Hz; range and SD in semitones), voiced fraction of
    frames, intensity mean and SD (dB), HNR (dB, Praat's cross-correlation harmonicity,
    mean over voiced frames), jitter (local) and shimmer (local) with Praat's standard
    arguments (period 0.1–20 ms, maximum period factor 1.3, maximum amplitude factor 1.6).
    A measure that is undefined (no voicing) is NaN.
    """
    from parselmouth.praat import call

    c = pitch_intensity(y, sr, f0_floor=f0_floor, f0_ceiling=f0_ceiling)
    lo, hi = c["f0_floor"], c["f0_ceiling"]
    f0 = c["f0_hz"][c["voiced"]]
    out = dict.fromkeys(PRAAT_COLUMNS, float("nan"))
    out.update(f0_floor_hz=lo, f0_ceiling_hz=hi, voiced_fraction=float(np.mean(c["voiced"])) if len(c["voiced"]) else 0.0)
    inten = c["intensity_db"][np.isfinite(c["intensity_db"])]
    if len(inten):
        out.update(intensity_mean_db=float(np.mean(inten)), intensity_sd_db=float(np.std(inten)))
    if len(f0):
        st = 12 * np.log2(f0 / np.median(f0))
        p5, p95 = np.percentile(f0, [5, 95])
        out.update(f0_median_hz=float(np.median(f0)), f0_p5_hz=float(p5), f0_p95_hz=float(p95),
                   f0_range_st=float(12 * np.log2(p95 / p5)), f0_sd_st=float(np.std(st)))
        snd = _sound(y, sr)
        harm = snd.to_harmonicity_cc(time_step=TIME_STEP, minimum_pitch=lo)
        hnr = np.asarray(harm.values[0])
        hnr = hnr[hnr > -199]  # Praat marks unvoiced frames with -200 dB
        out["hnr_db"] = float(np.mean(hnr)) if len(hnr) else float("nan")
        points = call(snd, "To PointProcess (periodic, cc)", lo, hi)
        out["jitter_local"] = _defined(call(points, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3))
        out["shimmer_local"] = _defined(call([snd, points], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6))
    return out


def _defined(v: Any) -> float:
    v = float(v) if v is not None else float("nan")
    return v if np.isfinite(v) else float("nan")


def _smile(level: str):
    import opensmile

    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                           feature_level=opensmile.FeatureLevel.Functionals if level == "functionals" else opensmile.FeatureLevel.LowLevelDescriptors)


def egemaps_functionals(y: np.ndarray, sr: int) -> dict[str, float]:
    """The 88 eGeMAPS v02 functionals of a clip (openSMILE), name → value."""
    _sound(y, sr)  # the same input checks as every other measure
    df = _smile("functionals").process_signal(np.asarray(y, dtype=np.float32), sr)
    return {str(k): float(v) for k, v in df.iloc[0].items()}


def egemaps_lld(y: np.ndarray, sr: int):
    """eGeMAPS v02 low-level descriptors per 10 ms frame (openSMILE).

    Returns a DataFrame, one row per frame: ``start_s`` and ``end_s`` (seconds), then the
    25 descriptors (loudness, F0 semitone from 27.5 Hz, jitter, shimmer, HNR, formants, …).
    """
    _sound(y, sr)
    df = _smile("lld").process_signal(np.asarray(y, dtype=np.float32), sr)
    starts = df.index.get_level_values("start").total_seconds()
    ends = df.index.get_level_values("end").total_seconds()
    df = df.reset_index(drop=True)
    df.insert(0, "end_s", np.asarray(ends, dtype=np.float64))
    df.insert(0, "start_s", np.asarray(starts, dtype=np.float64))
    return df


def clip_features(y: np.ndarray, sr: int, feature_set: str = "praat") -> dict[str, float]:
    """Praat cues, eGeMAPS functionals, or both (``feature_set`` in :data:`FEATURE_SETS`)."""
    if feature_set not in FEATURE_SETS:
        raise ConfigError(f"unknown feature set {feature_set!r}.", fix=f"use one of: {', '.join(FEATURE_SETS)}.")
    out: dict[str, float] = {}
    if feature_set in ("praat", "all"):
        out.update(voice_measures(y, sr))
    if feature_set in ("egemaps", "all"):
        out.update({f"egemaps.{k}": v for k, v in egemaps_functionals(y, sr).items()})
    return out


# ---------------------------------------------------------------------------
# a run
# ---------------------------------------------------------------------------
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

    from ..runfolder import as_run_folder
    from ..errors import WorkbenchError

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
        (:func:`workbench.fusion.grouped_folds`, the splitter of the probe and fusion).
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

    from ..fusion import grouped_folds

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
