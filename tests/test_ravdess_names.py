"""RAVDESS file names are ASCII digits: an actor written in other digits is not a new speaker."""

from __future__ import annotations

from workbench.data.corpora.ravdess import parse_name


def test_an_actor_in_arabic_indic_digits_is_not_read_as_a_speaker():
    assert parse_name("03-01-05-01-02-01-01").actor == "01"
    assert parse_name("03-01-05-01-02-01-\u0660\u0661") is None  # "Actor_٠١" would split actor 1 in two
    assert parse_name("03-01-05-01-02-01-\uff10\uff11") is None  # fullwidth digits too
