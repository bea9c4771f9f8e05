"""Hostile and careless values at the edges of today's surfaces: each test failed before its fix."""

from __future__ import annotations

import pytest

from workbench.analysis.finetune.encoder import EncoderTraining
from workbench.analysis.finetune.head import HeadTraining
from workbench.errors import ConfigError


@pytest.mark.parametrize("kw", [{"lr": float("inf")}, {"weight_decay": float("nan")}, {"weight_decay": -1.0},
                                {"weight_decay": float("-inf")}, {"weight_decay": float("inf")}])
def test_head_training_refuses_non_finite_step_sizes(kw):
    # `finetune --lr inf` wrote a head of NaN weights (exit 0); `--weight-decay -1` or `-nan` ended in 'unexpected ValueError'
    with pytest.raises(ConfigError, match=next(iter(kw))):
        HeadTraining(**kw)


@pytest.mark.parametrize("kw", [{"lr": float("inf")}, {"head_lr": float("inf")}, {"lora_alpha": float("inf")},
                                {"weight_decay": -0.5}, {"weight_decay": float("nan")}])
def test_encoder_training_refuses_non_finite_step_sizes(kw):
    with pytest.raises(ConfigError, match=next(iter(kw))):
        EncoderTraining(**kw)


def test_step_sizes_that_make_sense_pass():
    HeadTraining(lr=0.05, weight_decay=0.0)
    EncoderTraining(lr=1e-4, weight_decay=0.0, head_lr=1e-3, lora_alpha=8.0)
