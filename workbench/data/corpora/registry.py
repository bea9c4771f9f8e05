"""The corpora the workbench reads, by name, and the tables assembled from their modules.

Each corpus module (lhotse's ``recipes/<corpus>.py`` is the model) holds, written once: ``NAME``, the
``LABEL_MAP`` (corpus label → emotion2vec+ key, "" = no counterpart), ``CLASS_NAMES`` (corpus label → the
class's readable name, None when the labels are words already), its file-name parser, ``prepare`` (the
manifest reader) and, where the corpus ships listener judgements, their readers in ``VOTE_FORMATS``
(format name → (reader, its options, what the file is)) and what those figures can say (``LISTENER_FACTS``).
A new corpus is a new module added to :data:`CORPORA`.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import replace
from types import ModuleType
from typing import Any, Callable, Sequence

from workbench.data.corpora import casia, crema_d, emodb, esd, iemocap, msp_podcast, ravdess, tess
from workbench.data.manifest import generic_emotion, Item, Manifest
from workbench.data.manifest_rows import use_corpus_labels
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS

#: corpus name → its module
CORPORA: dict[str, ModuleType] = {m.NAME: m for m in (emodb, ravdess, crema_d, tess, iemocap, esd, casia, msp_podcast)}

#: corpus name → its manifest reader ``prepare(corpus_dir, **its options) -> Manifest``
PREPARERS: dict[str, Callable[[str | os.PathLike], Manifest]] = {
    name: m.prepare for name, m in CORPORA.items() if hasattr(m, "prepare")}
#: corpus label → emotion2vec+ key ("" = no counterpart), by corpus
LABEL_MAPS: dict[str, dict[str, str]] = {
    name: m.LABEL_MAP for name, m in CORPORA.items() if getattr(m, "LABEL_MAP", None) is not None}
#: corpus label → the class's readable name, for heads trained on the corpus's own classes (``workbench finetune``):
#: EmoDB's ``L`` is ``boredom``, not a file-name letter.  "" = not a class (IEMOCAP's ``xxx``: no majority).
#: A corpus not listed here (ESD, CASIA, folders) already labels in words: its label is the name.
CLASS_NAMES: dict[str, dict[str, str]] = {
    name: m.CLASS_NAMES for name, m in CORPORA.items() if getattr(m, "CLASS_NAMES", None) is not None}
#: the corpora whose labels are bare codes, with the names a probe on the corpus's own labels shows ("boredom", not "L")
LABEL_NAMES: dict[str, dict[str, str]] = {name: CLASS_NAMES[name] for name in (emodb.NAME, ravdess.NAME)}
#: other tools' spellings of a corpus's classes → its code (EmoBox writes EmoDB's boredom ``boredem``), by corpus
LABEL_SPELLINGS: dict[str, dict[str, str]] = {
    name: m.LABEL_SPELLINGS for name, m in CORPORA.items() if getattr(m, "LABEL_SPELLINGS", None) is not None}
#: listener-file format → (reader, the options it takes, what the file is), from every corpus that ships judgements
VOTE_FORMATS: dict[str, tuple[Callable, set[str], str]] = {
    fmt: spec for m in CORPORA.values() for fmt, spec in getattr(m, "VOTE_FORMATS", {}).items()}
#: what each corpus's listener figures can and cannot say (see :func:`workbench.data.listeners.corpus_listener_facts`)
LISTENER_FACTS: list[dict[str, Any]] = [m.LISTENER_FACTS for m in CORPORA.values() if hasattr(m, "LISTENER_FACTS")]


#: other tools' names for the corpora (EmoBox's ``dataset`` field and folder names: ``cremad``, ``msppodcast``)
CORPUS_ALIASES = {"cremad": "crema-d", "msppodcast": "msp-podcast"}


def corpus_key(corpus: str) -> str:
    """The registry's spelling of a corpus name: lower case, ``_`` as ``-``, EmoBox's ``cremad`` as ``crema-d`` and
    ``msppodcast`` as ``msp-podcast`` (:data:`CORPUS_ALIASES`)."""
    key = str(corpus or "").strip().lower().replace("_", "-")
    return CORPUS_ALIASES.get(key, key)


def map_label(corpus: str, label: str) -> str:
    """The emotion2vec+ key for a corpus label ("" when it has no counterpart); common emotion names for an unknown corpus."""
    table = LABEL_MAPS.get(corpus_key(corpus)) if corpus else None
    if table is None:
        return generic_emotion(label)
    return table.get(label, table.get(label.lower(), ""))


def corpus_label(corpus: str, label: str) -> tuple[str, str] | None:
    """(the corpus's name, the emotion2vec+ key of its code ``label``, "" for none) when ``corpus`` names a corpus with
    a table (a manifest row's ``corpus`` column: ``emodb``, EmoBox's ``cremad``) and ``label`` is one of its codes
    (``W``, ``01``, ``ANG``; also lower or upper case); else None (the manifest reader checks the rows by it)."""
    key = corpus_key(corpus)
    table = LABEL_MAPS.get(key)
    if table is None:
        return None
    code = str(label).strip()
    for spelt in (code, code.lower(), code.upper()):
        if spelt in table:
            return key, table[spelt]
    return None


use_corpus_labels(corpus_label)


def class_name(corpus: str, label: str) -> str:
    """The readable name of a corpus label (``class_name("emodb", "L") == "boredom"``); "" when it is no class
    (IEMOCAP's ``xxx``, MSP-Podcast's ``X``: no agreement).

    A corpus without a table (ESD, CASIA, a folder of labelled files) keeps its label, stripped.  A label that is not
    one of the table's codes is one written as a word (EmoBox writes EmoDB's ``W`` as ``anger``, RAVDESS's ``06`` as
    ``Fearful``): it gets the name of the one code whose emotion2vec+ key the word names (``happy`` → EmoDB's
    ``happiness``, as ``F`` is), or the class another tool's spelling names (EmoBox's ``boredem`` is EmoDB's ``boredom``:
    :data:`LABEL_SPELLINGS`), else the word itself — a class, never dropped as none.
    """
    key = corpus_key(corpus)
    table = CLASS_NAMES.get(key)
    label = str(label or "").strip()
    if table is None:
        return label
    if label in table or label.lower() in table:
        return table.get(label, table.get(label.lower(), ""))
    if label.lower() in table.values():
        return label.lower()
    spelt = LABEL_SPELLINGS.get(key, {}).get(label.lower())
    if spelt is not None:
        return table[spelt]
    emotion = generic_emotion(label)
    codes = [code for code, key_ in LABEL_MAPS.get(key, {}).items() if emotion and key_ == emotion]
    return table[codes[0]] if len(codes) == 1 else label


def item_class(item: Item) -> str:
    """An item's class under the corpus's own labels, by name (its ``meta.corpus`` says which table)."""
    return class_name(str(item.meta.get("corpus", "")), item.label)


def for_labels(manifest: Manifest, labels: Sequence[str]) -> Manifest:
    """The manifest with each item's ``emotion`` set to its class in a model's label set.

    For the nine emotion2vec+ classes that is the loaders' mapping, unchanged.  For a head trained on a
    corpus's own classes (``workbench finetune``), it is the item's readable class name (:func:`item_class`)
    when the head has it, else "" (counted as "no counterpart", as for the nine) — so every reader
    (metrics, calibration, compare, listeners) scores the model against truth in its own labels.
    """
    labels = tuple(labels)
    if labels == LABEL_KEYS:
        return manifest
    known = set(labels)
    items = [replace(it, emotion=name if (name := item_class(it)) in known else "") for it in manifest]
    return replace(manifest, items=items)


def prepare(corpus: str, corpus_dir: str | os.PathLike, **options: Any) -> Manifest:
    """The manifest of a corpus as distributed, by the corpus's name (one of :data:`PREPARERS`).

    ``options`` are the corpus reader's own (RAVDESS's ``channel``); ``None`` means its default.  An option the
    corpus's reader does not take is refused with the ones it does.
    """
    key = corpus_key(corpus)
    if key not in PREPARERS:
        raise ConfigError(f"unknown corpus {corpus!r}; known: {', '.join(PREPARERS)}.", fix="pick one of them, or use import-emobox.")
    options = {k: v for k, v in options.items() if v is not None}
    takes = corpus_options(key)
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise ConfigError(f"takes no option {', '.join('--' + u for u in unknown)}; "
                          f"{'its options: ' + ', '.join('--' + t for t in takes) if takes else 'it takes none'}.",
                          source=key, fix=f"leave {', '.join('--' + u for u in unknown)} out for {key}.")
    return PREPARERS[key](corpus_dir, **options)


def corpus_options(corpus: str) -> list[str]:
    """The keyword options a corpus's manifest reader takes (RAVDESS: ``channel``)."""
    params = inspect.signature(PREPARERS[corpus_key(corpus)]).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
