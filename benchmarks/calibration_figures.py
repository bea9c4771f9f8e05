"""The figures quoted for calibration, groups and fusion honesty, on planted data (no model weights needed).

    PYTHONPATH=.:tests python benchmarks/calibration_figures.py

Prints: the temperature fit's spread over seeds; conformal coverage over repeated splits; a
cross-validated calibration of a planted run; the fusion text checks on an EmoDB-like design
and on English text that carries the label.
"""

from __future__ import annotations

import time

import numpy as np

from test_calibration import planted, planted_run
from test_fusion_honesty import ENGLISH_MODEL, emodb_design, english_carrying_the_label
from workbench.analysis.calibration import calibrate, conformal_sets, fit_temperature, softmax
from workbench.analysis.fusion import text_checks


def temperature_spread() -> None:
    for t_true in (0.7, 1.0, 2.5):
        rel = np.array([fit_temperature(*planted(5000, 5, t_true, seed=s)) / t_true - 1 for s in range(20)])
        print(f"T={t_true}: relative error sd {rel.std():.4f}, largest {np.abs(rel).max():.4f} (5000 items, 5 classes, seeds 0-19)")


def coverage_over_splits() -> None:
    z, y = planted(60000, 6, 1.0, seed=7, spread=2.0)
    probs = softmax(z * 1.5)
    rng = np.random.default_rng(0)
    for score in ("lac", "aps"):
        cov, size = [], []
        for _ in range(10):
            order = rng.permutation(len(y))[:6000]
            cal, test = order[:3000], order[3000:]
            sets = conformal_sets(probs[cal], y[cal], probs[test], alpha=0.1, score=score)
            cov.append(sets[np.arange(len(test)), y[test]].mean())
            size.append(sets.sum(axis=1).mean())
        print(f"{score}: coverage mean {np.mean(cov):.4f}, range [{min(cov):.4f}, {max(cov):.4f}], mean set size {np.mean(size):.2f}"
              " (10 splits, 3000 calibration / 3000 test, alpha 0.1)")


def planted_calibration() -> None:
    df = planted_run(n_speakers=10, per_speaker=54, t_true=2.0)
    t0 = time.perf_counter()
    rep = calibrate(df, n_boot=1000)
    print(f"calibrate: {rep.n} items, {time.perf_counter() - t0:.1f} s with 1000 bootstrap resamples")
    print(rep.render())


def fusion_checks() -> None:
    for name, design in (("EmoDB-like", emodb_design()), ("English, text carries the label", english_carrying_the_label())):
        t0 = time.perf_counter()
        facts, warnings = text_checks(*design, text_model=ENGLISH_MODEL)
        info, lang = facts["label_information"], facts["language"]
        print(f"{name}: {len(design[0])} items, language {lang['language']} ({lang['share']:.0%}), text-only UAR {info['uar']:.3f} "
              f"(chance {info['chance']:.3f}), p {info['p_value']:.3f}, MI {info['mi_bits']:.3f} bits, {len(warnings)} warning(s), "
              f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    temperature_spread()
    coverage_over_splits()
    planted_calibration()
    fusion_checks()
