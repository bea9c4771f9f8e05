"""Figures of compare, finetune's card … with the denominators and families that make them meaningful (audit checks14)."""

from __future__ import annotations

from workbench.data.cards import finetuned_card


def _training(**extra):
    return {"parent": {}, "created": "2026-12-07T00:00:00+00:00",
            "data": {"corpora": ["demo"], "n_items": 100},
            "labels": {"counts": {"train": {"a": 30, "b": 30}, "validation": {"a": 10, "b": 10}, "test": {"a": 12, "b": 8}}},
            "speakers": {"train": ["s1", "s2", "s3"], "validation": ["s3", "s4"], "test": ["s5"]}, **extra}


def test_a_heads_card_counts_the_items_it_trained_on_not_its_test_items():
    # the card read "head trained on 100 items of 5 train/validation speakers": 20 of the 100 were its held-out test items,
    # and s3, on both sides, counted twice
    words = finetuned_card("heads/x", _training()).stages[-1].description
    assert "trained on 60 items" in words and "early-stopped on 20" in words and "of 4 train/validation speakers" in words
    assert "20 held-out test items" in words and "100" not in words
    old = _training()
    del old["labels"]
    assert "100 items (train, validation and test together)" in finetuned_card("heads/x", old).stages[-1].description
