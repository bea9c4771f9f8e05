"""The softmax every score goes through: the same bits as SciPy's, without importing SciPy (issue #28 item 2)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax as scipy_softmax

from workbench.model.temperature import softmax


@pytest.mark.parametrize("shape", [(9,), (3, 9), (2, 40, 9), (1, 4)])
def test_softmax_is_scipys_to_the_bit(shape):
    rng = np.random.default_rng(0)
    for scale in (1e-3, 1.0, 30.0, 800.0):  # 800: exp would overflow without the shift
        x = scale * rng.standard_normal(shape)
        x[..., 0] = -np.inf  # an output the label scheme does not use
        ours, theirs = softmax(x), scipy_softmax(x, axis=-1)
        assert ours.dtype == theirs.dtype == np.float64 and ours.shape == x.shape
        assert np.array_equal(ours, theirs), f"scale {scale}: max |diff| {np.abs(ours - theirs).max()}"
        assert np.all(ours[..., 0] == 0.0) and np.allclose(ours.sum(-1), 1.0)


def test_softmax_takes_float32_logits_as_float64():
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    assert np.array_equal(softmax(x), scipy_softmax(x.astype(float)))
