"""The cue probe's "carried" is corrected for the number of cues probed (Benjamini–Hochberg), and says so.

``features --probe`` declared each cue carried when its R² bootstrap interval lay above 0: one test per cue at 2.5 %
(one-sided), 88 of them with eGeMAPS, so a family of null cues called about two of them carried, with no word of the
family or of a correction."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench.explain.cues import cue_probe, probe_correction


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p written out (independent of scipy): q_(i) = min_{j >= i} p_(j) m / j, capped at 1."""
    m, order = len(p), np.argsort(p)
    q = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1)
    return out


def _table(p: np.ndarray) -> pd.DataFrame:
    """A probe table whose interval and p agree (the lower end is above 0 exactly when the one-sided p is under 2.5 %)."""
    return pd.DataFrame({"cue": [f"c{i}" for i in range(len(p))], "n": 60, "folds": 4, "r2": 0.0,
                         "low": np.where(p < 0.025, 0.01, -0.05), "high": 0.2, "p": p, "note": ""})


def test_many_null_cues_keep_the_family_wise_rate_and_the_fdr_at_the_level():
    """88 null cues (uniform p), 2000 families: uncorrected, ~89 % of the families called a cue carried; corrected, at
    most the level 0.025 (BH under the global null controls the family-wise rate).  With 20 cues truly carried among
    the 88 the false discovery proportion averages under 0.025."""
    rng = np.random.default_rng(0)
    any_old = any_new = 0
    fdp = []
    for i in range(2000):
        p = rng.uniform(size=88)
        out = probe_correction(_table(p))
        any_old += bool((out["low"] > 0).any())
        any_new += bool(out["carried"].any())
        if i < 500:  # 20 truly carried cues (p from a strong effect) among 68 nulls
            p[:20] = rng.uniform(size=20) ** 8 / 50
            out = probe_correction(_table(p))
            called = out["carried"].to_numpy()
            fdp.append(called[20:].sum() / max(called.sum(), 1))
    assert any_old / 2000 > 0.8  # the failure: uncorrected
    assert any_new / 2000 <= 0.035, any_new / 2000  # 0.025 nominal; 2000 families leave about ±0.007
    assert np.mean(fdp) <= 0.025 + 0.01, np.mean(fdp)


def test_the_q_values_match_benjamini_hochberg_written_out():
    rng = np.random.default_rng(1)
    p = np.r_[rng.uniform(size=30), rng.uniform(size=10) / 1000]
    out = probe_correction(_table(p))
    np.testing.assert_allclose(out["q"].to_numpy(), _bh(p), rtol=1e-12)
    assert out.attrs["correction"]["family"] == 40 and (out["correction"] == "Benjamini-Hochberg over 40 probed cue(s), FDR 0.025").all()


def test_null_cues_from_embeddings_are_not_called_carried_and_a_planted_one_is():
    """The end-to-end probe on 30 cues independent of the embeddings and one the embeddings hold: only that one."""
    rng = np.random.default_rng(2)
    n = 60
    emb = rng.standard_normal((n, 8))
    feats = pd.DataFrame({f"null{j}": rng.standard_normal(n) for j in range(30)})
    feats["planted"] = emb[:, 0] * 2 + 0.1 * rng.standard_normal(n)
    out = cue_probe(emb, feats, [f"s{k % 6}" for k in range(n)], folds=3, n_boot=1999)
    assert out.set_index("cue")["carried"].to_dict() == {**{f"null{j}": False for j in range(30)}, "planted": True}
    assert out.attrs["correction"]["family"] == 31
    # few draws: a p counted from the draws could not go under 1/200 and so never reach 0.025/31 (the planted cue was
    # lost with any --bootstrap under 1240, 999 the default); from the bootstrap's standard error it has no such floor
    few = cue_probe(emb, feats, [f"s{k % 6}" for k in range(n)], folds=3, n_boot=199)
    assert few.set_index("cue")["carried"].to_dict() == {**{f"null{j}": False for j in range(30)}, "planted": True}
    assert few.set_index("cue").loc["planted", "p"] < 0.025 / 31 / 10


def test_the_p_is_the_normal_tail_of_r2_over_its_bootstrap_standard_error():
    """Computed here independently: 1 − Φ(R² / sd(draws)), by the error function."""
    from math import erf, sqrt

    from workbench.explain.cues import _one_sided_p

    draws = np.random.default_rng(3).normal(0.05, 0.02, size=500)
    se = draws.std(ddof=1)
    assert _one_sided_p(0.05, draws) == pytest.approx(0.5 * (1 - erf(0.05 / se / sqrt(2))), rel=1e-9)
    assert _one_sided_p(-0.1, draws) > 0.99 and np.isnan(_one_sided_p(0.1, draws[:1]))
    assert _one_sided_p(0.1, np.full(10, 0.1)) == 0.0 and _one_sided_p(-0.1, np.full(10, -0.1)) == 1.0


@pytest.mark.slow
def test_end_to_end_null_cues_keep_the_family_wise_rate_with_the_standard_error_p():
    """80 families of 20 cues independent of the embeddings, through the whole probe (ridge, folds, 199 draws): a
    family calls a null cue carried at most at the level (0.025 nominal; the out-of-fold R² of a null cue leans below 0,
    so fewer; 1 of 150 families here when written)."""
    rng = np.random.default_rng(5)
    called = 0
    for f in range(80):
        emb = rng.standard_normal((60, 8))
        feats = pd.DataFrame({f"null{j}": rng.standard_normal(60) for j in range(20)})
        called += bool(cue_probe(emb, feats, [f"s{k % 6}" for k in range(60)], folds=3, n_boot=199, seed=f)["carried"].any())
    assert called / 80 <= 0.05, called
