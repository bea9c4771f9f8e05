"""Figures of `listeners`, `features` (cue differences and `--probe`), `explain`, `embeddings --neighbours`, `compare`'s
paired variant deltas and `metrics --by` with three groups, recomputed by an independent implementation (scikit-learn,
SciPy, Captum called directly, plain numpy from the definitions) on corpus-like data: 14+ speakers, a label set that
is not the nine, failed rows, items without a label.  Where the package's figure is made another way, the two must
agree (recompute18; the first round is tests/test_recompute_independent.py).  The speaker intervals are recomputed by
a plain cluster bootstrap with other draws, so they agree to Monte-Carlo error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, t as student_t

from conftest import speech_like


def _t_level(g: int) -> float:
    """The t-corrected percentile level for G speakers (README: Hesterberg's expanded percentile)."""
    return 2 * norm.cdf(np.sqrt(g / (g - 1)) * student_t.ppf(0.975, g - 1)) - 1


def _cluster_ci(stat, idx: np.ndarray, spk: np.ndarray, *, b: int = 1000, seed: int = 11) -> np.ndarray:
    """A plain cluster bootstrap of ``stat(indices)`` over the speakers of ``idx``, t-corrected, NaN resamples left out."""
    ids = np.unique(spk[idx])
    g = len(ids)
    rng = np.random.default_rng(seed)
    draws = np.array([stat(np.concatenate([idx[spk[idx] == s] for s in rng.choice(ids, g)])) for _ in range(b)], float)
    level = _t_level(g)
    return np.quantile(draws[np.isfinite(draws)], [(1 - level) / 2, (1 + level) / 2])


# ---------------------------------------------------------------- features: Cliff's delta and the cue probe
def _cue_table(seed: int = 0):
    """14 speakers x 9 clips, predictions over a head's four classes (calm, tense, sad, bored), an F0 cue that tense
    raises and a speaker effect moves, a loudness cue with 4 unmeasured rows; embeddings that carry F0."""
    rng = np.random.default_rng(seed)
    spk = np.repeat([f"s{i:02d}" for i in range(14)], 9)
    n = len(spk)
    pred = np.array(["calm", "tense", "sad", "bored"])[rng.integers(0, 4, n)]
    effect = rng.normal(0, 1, 14)[np.repeat(np.arange(14), 9)]
    f0 = 100 + 20 * (pred == "tense") + 10 * effect + rng.normal(0, 5, n)
    loud = rng.normal(60, 3, n) + 2 * effect
    loud[:4] = np.nan
    emb = rng.normal(0, 1, (n, 16))
    emb[:, 0] += (f0 - 100) / 10
    feats = pd.DataFrame({"id": [f"u{i}" for i in range(n)], "variant": "raw", "pred": pred, "speaker": spk, "f0": f0, "loud": loud})
    return feats, emb, spk


def _cliff(a: np.ndarray, b: np.ndarray, wa: np.ndarray | None = None, wb: np.ndarray | None = None) -> float:
    """Cliff's delta from its definition, P(a > b) − P(a < b), each item weighted (a resample's repeats)."""
    wa = np.ones(len(a)) if wa is None else wa
    wb = np.ones(len(b)) if wb is None else wb
    if wa.sum() == 0 or wb.sum() == 0:
        return float("nan")
    return float((wa[:, None] * wb[None, :] * np.sign(a[:, None] - b[None, :])).sum() / (wa.sum() * wb.sum()))


def test_cue_differences_are_cliffs_delta_with_a_speaker_bootstrap_and_its_counts():
    """Each class against the rest: delta from the definition, the speaker interval (t-corrected), its p from the
    resamples' standard error, and ``kept`` of ``drawn`` (a class predicted for two speakers only: a resample without
    them has no delta).  Matched to the last digit on a 14-speaker table; recomputed here with other draws."""
    from workbench.explain.cues import cue_differences

    feats, _, spk = _cue_table()
    pred = feats["pred"].to_numpy().copy()
    pred[np.isin(spk, ["s00", "s01"])] = "odd"
    feats["pred"] = pred
    d = cue_differences(feats, n_boot=999, seed=0)
    assert set(d["resampled"]) == {"14 speakers"}
    for _, r in d.iterrows():
        v = feats[r.cue].to_numpy()
        ok = np.isfinite(v)
        a, b = v[ok & (pred == r.label)], v[ok & (pred != r.label)]
        assert (r.n_class, r.n_rest) == (len(a), len(b))
        assert r.delta == pytest.approx(_cliff(a, b), abs=1e-12)
        idx = np.flatnonzero(ok)
        codes = np.unique(spk[idx], return_inverse=True)[1]
        draws = np.random.default_rng(5).integers(0, codes.max() + 1, (1500, codes.max() + 1))
        w = np.stack([np.bincount(d, minlength=codes.max() + 1) for d in draws])[:, codes].astype(float)  # resample x item
        cls = pred[idx] == r.label
        sign = np.sign(v[idx][cls][:, None] - v[idx][~cls][None, :])
        with np.errstate(invalid="ignore", divide="ignore"):
            boots = ((w[:, cls] @ sign) * w[:, ~cls]).sum(1) / (w[:, cls].sum(1) * w[:, ~cls].sum(1))
        boots = np.array(boots)
        kept = np.isfinite(boots)
        level = _t_level(codes.max() + 1)
        lo, hi = np.quantile(boots[kept], [(1 - level) / 2, (1 + level) / 2])
        assert [r.low, r.high] == pytest.approx([lo, hi], abs=0.08), (r.cue, r.label)
        assert r.kept / r.drawn == pytest.approx(kept.mean(), abs=0.04) and r.drawn == 999
        assert r.p == pytest.approx(2 * norm.sf(abs(r.delta) / np.std(boots[kept], ddof=1)), rel=0.5, abs=0.02)
    odd = d[(d.label == "odd") & (d.cue == "f0")].iloc[0]
    assert odd.kept < 0.9 * odd.drawn and odd.thin == f"!! {odd.kept} of 999 resamples"  # P(no s00, s01) = (12/14)^14 ≈ 0.12


def test_cue_probe_r2_is_grouped_kfold_ridge_and_its_speaker_interval():
    """Out-of-fold R² of a standardised RidgeCV under scikit-learn's GroupKFold by speaker (r2_score), the speaker
    bootstrap of R² over the held-out predictions, and the one-sided p from its standard error."""
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from workbench.explain.cues import cue_probe

    feats, emb, spk = _cue_table()
    probe = cue_probe(emb, feats, spk, folds=5, n_boot=999, seed=0).set_index("cue")
    for cue in ("f0", "loud"):
        y = feats[cue].to_numpy()
        ok = np.isfinite(y)
        x, yy, g = emb[ok], y[ok], spk[ok]
        pred = np.full(len(yy), np.nan)
        for train, test in GroupKFold(5).split(x, yy, g):
            pred[test] = make_pipeline(StandardScaler(), RidgeCV(alphas=[0.1, 1, 10, 100, 1000])).fit(x[train], yy[train]).predict(x[test])
        r = probe.loc[cue]
        assert (r.n, r.folds, r.drawn) == (ok.sum(), 5, 999) and r.resampled == "14 speakers"
        assert r.r2 == pytest.approx(r2_score(yy, pred), abs=1e-9)
        idx = np.arange(len(yy))
        assert [r.low, r.high] == pytest.approx(list(_cluster_ci(lambda i: r2_score(yy[i], pred[i]), idx, g)), abs=0.05)
    assert probe.loc["f0", "carried"] and not probe.loc["loud", "carried"]


# ---------------------------------------------------------------- listeners
def _judged_run(seed: int = 5):
    """A three-class head's run (calm, tense, sad) with listener votes: 14 speakers x 8 clips, 3-6 raters an item, some
    responses with no counterpart, 2 failed rows, 3 items labelled bored (not a class of the head), one unlabelled."""
    from workbench.data.votes import record_from_counts

    classes = ["calm", "tense", "sad"]
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(14 * 8):
        truth = classes[rng.integers(0, 3)]
        label = truth
        if i % 37 == 5:
            label, truth = "bored", ""
        if i == 17:
            label = truth = ""
        base = np.full(3, 0.2)
        if truth:
            base[classes.index(truth)] += rng.uniform(0, 2)
        votes = rng.multinomial(int(rng.integers(3, 7)), base / base.sum())
        z = rng.normal(0, 1, 3) + (1.5 * np.eye(3)[classes.index(truth)] if truth else 0)
        p = np.exp(z) / np.exp(z).sum()
        failed = i in (3, 50)
        rows.append({"id": f"u{i}", "variant": "raw", "status": "failed" if failed else "ok", "emotion": truth, "label": label,
                     "speaker": f"s{i // 8:02d}", **{f"score_{c}": (np.nan if failed else p[k]) for k, c in enumerate(classes)},
                     "pred": "" if failed else classes[int(p.argmax())], "confidence": float(p.max()),
                     "meta": record_from_counts(dict(zip(classes, map(float, votes))),
                                                unmapped={"other": float(rng.integers(0, 2))} if i % 5 == 0 else 0.0, classes=classes)})
    return pd.DataFrame(rows), classes


@pytest.mark.slow  # two bootstraps of 1000 resamples each side: about 10 s
def test_listener_bands_divergences_and_rho_match_scipy_and_a_speaker_bootstrap():
    """Agreement (largest category over all responses, the unmapped ones counting as categories), each band's accuracy
    and UAR with their speaker intervals, the mean JS divergence (SciPy's distance squared, base 2), the cross-entropy,
    the differences from a uniform guess, Spearman's ρ and both lists' totals, recomputed from the votes."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import spearmanr

    from workbench.analysis.listeners import evaluate_listeners

    df, classes = _judged_run()
    rep = evaluate_listeners(df, n_boot=1000, seed=0)
    ok = df[df.status == "ok"].reset_index(drop=True)
    votes = np.array([[m[f"votes_{c}"] for c in classes] for m in ok["meta"]])
    other = np.array([m["votes_unmapped"] for m in ok["meta"]])
    agreement = np.maximum(votes.max(1), other) / (votes.sum(1) + other)
    majority = np.array([m["listener_majority"] for m in ok["meta"]])
    scores = ok[[f"score_{c}" for c in classes]].to_numpy()
    pred, emo, spk = ok["pred"].to_numpy(), ok["emotion"].to_numpy(), ok["speaker"].to_numpy()
    assert rep.n_items == len(ok) == 110

    def acc(i):
        return np.mean(emo[i] == pred[i])

    def uar(i):
        return np.mean([np.mean(pred[i][emo[i] == c] == c) for c in classes if (emo[i] == c).any()])

    for band in rep.bands:
        hi_ok = (agreement <= band["hi"]) if band["hi"] == 1 else (agreement < band["hi"])
        idx = np.flatnonzero((emo != "") & (agreement >= band["lo"]) & hi_ok)
        assert band["n"] == len(idx)
        assert band["accuracy"] == pytest.approx(acc(idx)) and band["uar"] == pytest.approx(uar(idx))
        if band["resampled"] == "14 speakers":
            assert band["accuracy_ci"] == pytest.approx(list(_cluster_ci(acc, idx, spk)), abs=0.04)
            assert band["uar_ci"] == pytest.approx(list(_cluster_ci(uar, idx, spk)), abs=0.04)
    dist = votes / votes.sum(1, keepdims=True)
    jsd = jensenshannon(dist, scores, axis=1, base=2) ** 2
    ce = -(dist * np.log(scores)).sum(1)
    assert rep.jsd_mean == pytest.approx(jsd.mean()) and rep.cross_entropy_mean == pytest.approx(ce.mean())
    assert rep.jsd_ci == pytest.approx(list(_cluster_ci(lambda i: jsd[i].mean(), np.arange(len(ok)), spk)), abs=0.01)
    uniform = jensenshannon(dist, np.full_like(dist, 1 / 3), axis=1, base=2) ** 2
    assert rep.uniform_reference["jsd_minus_uniform"] == pytest.approx((jsd - uniform).mean())
    assert rep.uniform_reference["cross_entropy_minus_uniform"] == pytest.approx(ce.mean() - np.log(3))
    assert rep.spearman_confidence_agreement == pytest.approx(spearmanr(ok["confidence"], agreement).statistic)
    assert rep.n_agree_model_wrong == int(((agreement >= 0.75) & (majority != "") & (pred != majority)).sum())
    assert rep.n_split == int((agreement < 0.5).sum())


# ---------------------------------------------------------------- metrics --by with three groups
def test_three_group_breakdown_and_its_gap_match_a_speaker_bootstrap_per_group():
    """Three accents of 6-7 speakers: each group's WA and UAR and their intervals over its own speakers
    (t-corrected), and the UAR gap's max − min over each resample's groups (plain percentile, as README states)."""
    from workbench.analysis.groups import analyse_groups

    rng = np.random.default_rng(2)
    classes = ["calm", "tense", "sad"]
    t, p, grp, spk = [], [], [], []
    for g, skill in {"north": 0.8, "south": 0.6, "east": 0.45}.items():
        for s in range(7 if g != "east" else 6):
            own = np.clip(skill + rng.normal(0, 0.1), 0.05, 0.95)
            for j in range(12):
                truth = classes[j % 3]
                t.append(truth)
                p.append(truth if rng.random() < own else classes[(j % 3 + 1 + rng.integers(0, 2)) % 3])
                grp.append(g)
                spk.append(f"{g}{s}")
    t, p, grp, spk = map(np.array, (t, p, grp, spk))
    p[5], grp[7] = "bored", ""  # a prediction outside the classes (wrong), an item in no group (left out)
    a = analyse_groups(t, p, grp, classes, n_boot=2000, seed=0, speakers=spk)
    table = a.table.set_index("group")

    def uar(i):
        return np.mean([np.mean(p[i][t[i] == c] == c) for c in classes if (t[i] == c).any()])

    rng = np.random.default_rng(9)
    draws = {}
    for g in ("north", "south", "east"):
        idx = np.flatnonzero(grp == g)
        assert table.loc[g, "n"] == len(idx) and table.loc[g, "uar"] == pytest.approx(uar(idx))
        assert table.loc[g, "wa"] == pytest.approx(np.mean(t[idx] == p[idx]))
        assert [table.loc[g, "uar_lo"], table.loc[g, "uar_hi"]] == pytest.approx(list(_cluster_ci(uar, idx, spk)), abs=0.04)
        ids = np.unique(spk[idx])
        draws[g] = np.array([uar(np.concatenate([idx[spk[idx] == s] for s in rng.choice(ids, len(ids))])) for _ in range(2000)])
    gap = a.disparities["uar"]
    points = [uar(np.flatnonzero(grp == g)) for g in draws]
    assert gap["gap"] == pytest.approx(max(points) - min(points)) and (gap["highest"], gap["lowest"]) == ("north", "east")
    spread = np.max(list(draws.values()), 0) - np.min(list(draws.values()), 0)
    assert [gap["lo"], gap["hi"]] == pytest.approx(list(np.quantile(spread, [0.025, 0.975])), abs=0.04)
    assert "signed" not in gap and "by_construction" in gap


# ---------------------------------------------------------------- compare: paired variant deltas
@pytest.mark.slow  # two bootstraps of 1000 resamples each side: about 10 s
def test_paired_variant_deltas_mcnemar_and_confidence_shift_recomputed_by_item():
    """Two variants of one run, paired by item id (an item failed under one variant is in neither's pair): ΔWA, ΔUAR
    with the speaker bootstrap, McNemar's b, c and exact p (SciPy), and the mean confidence shift."""
    from scipy.stats import binomtest

    from workbench.analysis.compare.variants import compare_results

    rng = np.random.default_rng(4)
    classes = ["calm", "tense", "sad"]
    rows = []
    for i in range(16 * 8):
        truth = classes[i % 3] if i != 9 else ""
        for variant, skill in (("raw", 0.75), ("telephone", 0.55)):
            z = rng.normal(0, 1, 3) + (2.5 * skill * np.eye(3)[classes.index(truth)] if truth else 0)
            pr = np.exp(z) / np.exp(z).sum()
            failed = variant == "telephone" and i in (4, 40)
            rows.append({"id": f"u{i}", "variant": variant, "status": "failed" if failed else "ok", "emotion": truth,
                         "label": truth, "speaker": f"s{i // 8:02d}", "pred": "" if failed else classes[int(pr.argmax())],
                         "confidence": np.nan if failed else float(pr.max()),
                         **{f"score_{c}": (np.nan if failed else pr[k]) for k, c in enumerate(classes)}})
    df = pd.DataFrame(rows)
    _, (comp,), _ = compare_results(df, baseline="raw", n_boot=1000, seed=0)
    a = df[(df.variant == "raw") & (df.status == "ok")].set_index("id")
    b = df[(df.variant == "telephone") & (df.status == "ok")].set_index("id")
    ids = a.index.intersection(b.index)
    a, b = a.loc[ids], b.loc[ids]
    lab = a["emotion"].to_numpy()
    m = lab != ""
    pa, pb, spk = a["pred"].to_numpy(), b["pred"].to_numpy(), a["speaker"].to_numpy()

    def uar(t, p):
        return np.mean([np.mean(p[t == c] == c) for c in classes if (t == c).any()])

    assert comp.n_paired == int(m.sum()) == 125 and comp.left_out == {"telephone": 2}
    idx = np.flatnonzero(m)
    dwa = lambda i: np.mean(pb[i] == lab[i]) - np.mean(pa[i] == lab[i])  # noqa: E731
    duar = lambda i: uar(lab[i], pb[i]) - uar(lab[i], pa[i])  # noqa: E731
    assert comp.delta_wa[0] == pytest.approx(dwa(idx)) and comp.delta_uar[0] == pytest.approx(duar(idx))
    assert list(comp.delta_wa[1:]) == pytest.approx(list(_cluster_ci(dwa, idx, spk)), abs=0.04)
    assert list(comp.delta_uar[1:]) == pytest.approx(list(_cluster_ci(duar, idx, spk)), abs=0.04)
    nb, nc = int(((pa == lab) & (pb != lab))[m].sum()), int(((pa != lab) & (pb == lab))[m].sum())
    assert (comp.mcnemar_b, comp.mcnemar_c) == (nb, nc)
    assert comp.mcnemar_p == pytest.approx(binomtest(min(nb, nc), nb + nc).pvalue)
    shift = b["confidence"].to_numpy() - a["confidence"].to_numpy()
    assert comp.confidence_shift_mean == pytest.approx(shift.mean()) and comp.n_shift == len(ids)
    assert comp.n_flips == int((pa != pb)[m].sum()) and comp.n_flips_unlabelled == int((pa != pb)[~m].sum())


# ---------------------------------------------------------------- embeddings --neighbours
def test_neighbours_are_numpys_cosine_ranking_and_the_reference_its_spread():
    """The k nearest items by cosine (float64 numpy), the query left out, and the query's cosines with every other
    item (median, range) that the neighbours are read against."""
    from pathlib import Path

    from workbench.analysis.embeddings import RunEmbeddings, neighbours

    rng = np.random.default_rng(1)
    mean = rng.normal(0, 1, 64) * 3  # anisotropic, as emotion2vec+'s are: every cosine well above 0
    x = (mean + rng.normal(0, 1, (60, 64))).astype(np.float32)
    rows = pd.DataFrame({"id": [f"u{i}" for i in range(60)], "speaker": [f"s{i % 14}" for i in range(60)]})
    emb = RunEmbeddings(rows, x, "raw", Path("."))
    xn = x.astype(np.float64) / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    for q in (0, 17, 59):
        sims = xn @ xn[q]
        others = np.delete(sims, q)
        sims[q] = -np.inf
        want = np.argsort(-sims, kind="stable")[:6]
        got = neighbours(emb, f"u{q}", k=6)
        assert list(got["id"]) == [f"u{i}" for i in want]
        assert got["cosine"].to_numpy() == pytest.approx(sims[want], abs=1e-6)
        ref = got.attrs["reference"]
        assert ref["items"] == 59 and ref["median"] == pytest.approx(np.median(others), abs=1e-6)
        assert (ref["min"], ref["max"]) == pytest.approx((others.min(), others.max()), abs=1e-6)


# ---------------------------------------------------------------- explain: Integrated Gradients and the curves
@pytest.fixture(scope="module")
def scorer(tiny_model):
    import torch

    from workbench.explain.scoring import ClassScore

    torch.set_num_threads(1)
    return ClassScore(tiny_model)


def _captum_ig_frames(scorer, wave: np.ndarray, k: int, seed: int, n_steps: int = 256) -> np.ndarray:
    """Captum's IntegratedGradients called directly on the same path (noise baseline at the clip's RMS, seeded), at
    ``n_steps`` Gauss-Legendre points, summed per 20 ms frame."""
    import torch
    from captum.attr import IntegratedGradients

    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
    base = torch.as_tensor((np.random.default_rng(seed).standard_normal(len(wave)) * rms).astype(np.float32))[None]
    a = IntegratedGradients(scorer).attribute(torch.as_tensor(wave)[None], baselines=base, target=k, n_steps=n_steps,
                                              internal_batch_size=64)[0].detach().double().numpy()
    frames = np.zeros(-(-len(wave) // 320) * 320)
    frames[: len(wave)] = a
    return frames.reshape(-1, 320).sum(1)


@pytest.mark.parametrize("clip_seed", [2, 4, 7])
def test_ig_map_that_passes_completeness_is_captums_ig(scorer, clip_seed):
    """The map said complete within 5 % is Integrated Gradients: within 10 % (L1) of Captum's at 256 points.  The check
    summed the path pieces' signed errors, so pieces off by +x and −x passed: on clips 2 and 7 the map passed at 2.7 % and
    0.9 % while 17 % and 18 % off; on a fine-tuned head's clip 3.9 % while 86 % off (pieces +0.43, −0.33 nats of
    2.35).  The pieces' errors now count in size; and errors cancelling inside a piece (clip 4: 4.5 % with the sizes
    counted, the map 17 % off) are caught by halving every piece until the map stops moving."""
    from workbench.explain.attribution import integrated_gradients

    wave = speech_like(dur=1.0, seed=clip_seed)
    k = int(np.argmax(scorer.log_probs(wave[None])[0]))
    ours = integrated_gradients(scorer, wave, scorer.labels[k], seed=0)
    c = ours.checks["completeness"]
    ref = _captum_ig_frames(scorer, wave, k, seed=0)
    assert abs(ref.sum() - c["gap"]) <= 1e-3 * abs(c["gap"])  # the reference is complete: it is IG
    assert c["f_input"] == pytest.approx(float(scorer.log_probs(wave[None])[0][k]), abs=1e-5)
    assert c["passed"]
    assert np.abs(ours.frame_relevance - ref).sum() <= 0.10 * np.abs(ref).sum()
    pieces = ours.params["path_pieces"]
    assert c["relative_error"] == pytest.approx(sum(abs(d) for _, _, d in pieces) / max(abs(c["gap"]), 0.01))
    assert c["relative_error"] >= c["sum_relative_error"]


def test_curve_aucs_are_the_trapezoid_of_the_stored_curves_and_random_insertion_mirrors_deletion(scorer):
    """The deletion/insertion AUCs are numpy's trapezoid over the fractions; the random orders' insertion curve is their
    deletion curve reversed (insertion follows the reversed orders: the same masked clips), so the two random AUCs are
    equal; a curve starts and ends at the scores of the whole and the silenced clip."""
    from workbench.explain.attribution import time_occlusion
    from workbench.explain.faithfulness import faithfulness

    wave = speech_like(dur=1.0, seed=3)
    k = int(np.argmax(scorer.log_probs(wave[None])[0]))
    target = scorer.labels[k]
    attr = time_occlusion(scorer, wave, target)
    f = faithfulness(scorer, wave, attr, steps=10, n_random=10, seed=0)
    d = f.to_dict()
    fr = np.asarray(d["fractions"])
    for part in ("method", "random", "frame_score"):
        for curve in ("deletion", "insertion"):
            assert d[part][f"{curve}_auc"] == pytest.approx(np.trapezoid(d[part][curve], fr), abs=1e-7)
    assert d["random"]["insertion"] == pytest.approx(d["random"]["deletion"][::-1], abs=1e-6)
    whole = float(np.exp(scorer.log_probs(wave[None])[0][k]))
    assert d["method"]["deletion"][0] == pytest.approx(whole, abs=1e-5) == d["method"]["insertion"][-1]


def test_ig_map_not_converged_is_flagged_on_screen_in_the_strip_and_the_json(tiny_model, scorer):
    """Each piece of the path is halved until the map moves by at most 10 % (L1): a map whose sum is complete can still
    be far from the integral (one piece of 2 points passed at 4.6 % with the map 123 % off).  A map that still moved, or
    whose pieces the cap left no room to halve, fails the check, said wherever the map is shown."""
    import json

    from workbench.explain.attribution import integrated_gradients
    from workbench.explain.explanation import explain_clip, report_lines
    from workbench.explain.figure import figure_titles

    wave = speech_like(dur=1.0, seed=2)
    k = int(np.argmax(scorer.log_probs(wave[None])[0]))
    ours = integrated_gradients(scorer, wave, scorer.labels[k], seed=0)
    c = ours.checks["completeness"]
    assert c["passed"] and c["map_change"] <= c["map_tolerance"] == 0.10
    capped = integrated_gradients(scorer, wave, scorer.labels[k], seed=0, max_steps=4)
    assert capped.checks["completeness"]["map_change"] is None and not capped.checks["completeness"]["passed"]
    expl = explain_clip(tiny_model, wave, target=scorer.labels[k], methods=("ig",), steps=4, n_random=10, seeds=1,
                        randomisation=None)
    expl.attributions["ig"].checks["completeness"].update(relative_error=0.012, map_change=0.31, passed=False)
    screen = "\n".join(report_lines(expl))
    assert "UNRELIABLE: IG map not converged: map change 31.0% (L1) when every path piece was halved (tolerance 10%)" in screen
    assert "map change 31.0% (≤ 10%) FAILED" in figure_titles(expl, None)["method:ig"]
    d = json.loads(expl.to_json())
    assert d["methods"]["ig"]["reliable"] is False and any("map not converged" in p for p in d["methods"]["ig"]["problems"])


def test_explanations_cached_before_the_map_convergence_check_are_not_served():
    """An entry written by the old IG (no map_change, maps that passed while far off) must miss: the cache's version
    moved with the check, as its comment says it must when an explanation's content changes meaning."""
    from workbench.explain.cache import CACHE_VERSION

    assert CACHE_VERSION >= 8
