"""The results schema and the constants every stage shares, declared once.

A run's ``results.parquet`` has one row per (item, variant).  Its columns were string literals in
eleven modules; here each is declared once with its type and meaning (:data:`RESULT_COLUMNS`),
ok and failed rows are built in one place (:func:`ok_row`, :func:`failed_row`), and readers take
the score column names from :func:`score_column` / :data:`SCORE_COLUMNS`.  (audformat keeps its
schema's strings in one ``define.py`` for the same reason.)

Constants: :data:`SAMPLE_RATE` (what the model hears), :data:`FRAME_RATE` (its frames per second),
:data:`MIN_MODEL_SAMPLES` (the shortest input that gives one frame).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Sequence

from workbench.labels import LABEL_KEYS

#: Hz: emotion2vec+ is trained on 16 kHz audio; every input is resampled to it
SAMPLE_RATE = 16000
#: frames per second of the model's features: the conv encoder's total stride is 320 samples at 16 kHz
FRAME_RATE = 50
#: the model needs one frame: 400 samples (25 ms) at 16 kHz
MIN_MODEL_SAMPLES = 400

SCORE_PREFIX = "score_"


def score_column(label: str) -> str:
    """The results column holding the probability of ``label`` (the one place that spells it)."""
    return f"{SCORE_PREFIX}{label}"


def score_columns(labels: Sequence[str] = LABEL_KEYS) -> list[str]:
    """The score columns of ``labels``, in their order."""
    return [score_column(k) for k in labels]


#: the nine score columns, in :data:`~workbench.labels.LABEL_KEYS` order (a list: pandas reads a tuple as one key)
SCORE_COLUMNS = score_columns()


def text_values(column: Any) -> Any:
    """A table's column (or frame) as text, an empty cell (NaN, None, NA) as ``""``.

    ``column.fillna("")`` did this, but a column read from a CSV file with every cell empty (no listener majority, no
    emotion, no speaker) is float64, and pandas 3 warns that filling it with a string "will raise" in a later version
    (``Pandas4Warning``): the values become objects first, then the empty ones ``""``, then text.  A number keeps the
    text ``astype(str)`` gave it (``1.0``)."""
    return column.astype(object).where(column.notna(), "").astype(str)


def score_labels(results: Any) -> list[str]:
    """The classes a results table was scored over, in the model's order: its ``score_*`` columns.

    A run of an emotion2vec+ checkpoint has the nine; a run of a fine-tuned head (``workbench
    finetune``) has that head's labels.  Every reader takes the label set from here, never from
    :data:`~workbench.labels.LABEL_KEYS`.  A table with no score column (every row failed,
    or an old table) gives the nine.
    """
    found = [str(c)[len(SCORE_PREFIX):] for c in getattr(results, "columns", ()) if str(c).startswith(SCORE_PREFIX)]
    return found or list(LABEL_KEYS)


@dataclass(frozen=True)
class Column:
    """One results column: its name, pandas dtype and what it means."""

    name: str
    dtype: str
    meaning: str


#: the ``split`` column's values (lower-cased) by the role they play.  A corpus keeps its own partition names in
#: ``split`` (MSP-Podcast's ``Train``/``Development``/``Test1``, ESD's ``evaluation``, IEMOCAP's ``Session1``); readers
#: of the column (``probe``/``finetune --scheme split``) take each value by its role, and a value with no role here
#: or in :data:`CORPUS_SPLIT_ROLES` (``Session1``) plays none.
SPLIT_ROLES = {"train": ("train", "training"), "dev": ("dev", "development", "valid", "validation", "val"),
               "test": ("test", "testing")}
#: names whose role depends on the corpus (``meta.corpus``): ESD's ``evaluation`` folder holds 20 utterances per speaker
#: and emotion beside 300 in ``train`` and 30 in ``test`` (Zhou et al. 2021), its validation set; elsewhere
#: ``eval``/``evaluation`` often means the test set (Hugging Face's folder names: ``datasets.data_files.SPLIT_KEYWORDS``),
#: so it is no role's name for every corpus.
CORPUS_SPLIT_ROLES = {"esd": {"evaluation": "dev"}}
#: numbered test sets, each its own (MSP-Podcast's Test1, Test2, Test3 are drawn differently: never pooled)
#: (between the word and the number any run of spaces, underscores and hyphens: Test1, Test 1, test_1, test-1, Test_ 1)
_NUMBERED_TEST = re.compile(r"^test[\s_\-\u2010\u2011\u2013]*(\d+)$")


def split_role(value: Any, corpus: Any = "") -> str:
    """The role of a ``split`` value: ``"train"``, ``"dev"``, ``"test"`` (``test``, or a numbered test set such as
    MSP-Podcast's ``Test1``), or ``""`` when it has none (``Session1``, empty); ``corpus`` (an item's ``meta.corpus``)
    names the corpus whose own names :data:`CORPUS_SPLIT_ROLES` gives (ESD's ``evaluation`` is dev).

    >>> [split_role(v) for v in ("Train", "Development", "Test1", "test", "Session1", "")]
    ['train', 'dev', 'test', 'test', '', '']
    >>> split_role("evaluation", "esd"), split_role("evaluation")
    ('dev', '')
    """
    key = str(value or "").strip().lower()
    if key in CORPUS_SPLIT_ROLES.get(str(corpus or "").strip().lower(), {}):
        return CORPUS_SPLIT_ROLES[str(corpus).strip().lower()][key]
    for role, names in SPLIT_ROLES.items():
        if key in names:
            return role
    return "test" if _NUMBERED_TEST.match(key) else ""


def split_key(value: Any) -> str:
    """The name a ``split`` value is grouped by: one key for every spelling of a set.  A numbered test set loses its case,
    spaces, underscores, hyphens and leading zeros (``Test 1``, ``Test1``, ``test_1``, ``test-1``, ``Test_ 1``, ``TEST01`` are all
    ``test1``: one test set); a role's own names are the role (``Testing`` is ``test``, ``Development`` is ``dev``); anything
    else is lower-cased.
    Readers show a set by the spelling the corpus wrote first.

    >>> [split_key(v) for v in ("Test 1", "Test1", "test_1", "test-1", "TEST1", "Testing", "Development", " Session1 ")]
    ['test1', 'test1', 'test1', 'test1', 'test1', 'test', 'dev', 'session1']
    """
    key = str(value or "").strip().lower()
    numbered = _NUMBERED_TEST.match(key)
    if numbered:  # by the number's value: Test01 is Test1, and so is a full-width or other script's digit ("Test１")
        return "test" + ("".join(str(unicodedata.decimal(d)) for d in numbered.group(1)).lstrip("0") or "0")  # no int(): 5,000 digits
    return next((role for role, names in SPLIT_ROLES.items() if key in names), key)


#: manifest columns copied into every row (the ones ``metrics --by`` can break down by)
MANIFEST_COLUMNS = ("label", "emotion", "text", "speaker", "gender", "split")

RESULT_COLUMNS: tuple[Column, ...] = (
    Column("id", "string", "item id from the manifest"),
    Column("variant", "string", "preprocessing variant name"),
    Column("path", "string", "audio path as the manifest gives it (relative to the manifest's folder)"),
    Column("label", "string", "the corpus's own label"),
    Column("emotion", "string", "the label's class in the model's label set: an emotion2vec+ key, or a fine-tuned head's "
                                "label ('' when it has no counterpart)"),
    Column("text", "string", "transcript, when the manifest has one"),
    Column("speaker", "string", "speaker id"),
    Column("gender", "string", "speaker gender"),
    Column("split", "string", "train/dev/test split"),
    Column("start", "float64", "segment start in seconds (None: the whole file)"),
    Column("duration", "float64", "segment duration in seconds (None: to the end)"),
    Column("meta", "string", "other manifest columns, JSON"),
    Column("chain_hash", "string", "canonical hash of the variant's preprocessing chain"),
    Column("status", "string", "'ok' or 'failed'"),
    Column("error", "string", "what went wrong, with the fix ('' when ok)"),
    Column("error_code", "string", "error family: audio, model, config, error ('' when ok)"),
    Column("pred", "string", "predicted class (one of the model's labels)"),
    Column("confidence", "float64", "top-1 probability"),
    Column("margin", "float64", "top-1 minus top-2 probability"),
    Column("entropy", "float64", "entropy of the model's probabilities, bits"),
    Column("correct", "boolean", "pred == emotion (None without a counterpart)"),
    # one per class of the model (the nine declared here; a fine-tuned head's labels instead: score_labels)
    *(Column(score_column(k), "float64", f"probability of {k}") for k in LABEL_KEYS),
    Column("n_frames", "Int64", f"model frames ({FRAME_RATE} per second)"),
    Column("audio_seconds", "float64", "seconds of audio the model heard"),
    Column("source_sample_rate", "Int64", "sample rate of the source file, Hz"),
    Column("source_sha256", "string", "sha256 of the source file's bytes"),
    Column("unknown_frame_fraction", "float64", "share of frames whose top label is <unk>"),
    Column("frame_top_label", "string", "most frequent per-frame label"),
    Column("snr_db", "float64", "estimated signal-to-noise ratio, dB"),
    Column("silence_fraction", "float64", "share of the clip below the silence threshold"),
    Column("cut_start_s", "float64", "seconds of speech cut at the start (0 when none)"),
    Column("findings", "string", "findings, JSON list"),
    Column("finding_codes", "string", "finding codes, comma-separated"),
    Column("chain", "string", "the processing log of the scored audio, JSON"),
    Column("cache_key", "string", "prediction cache key ('' when failed)"),
    Column("cache_hit", "boolean", "the prediction came from the cache"),
    Column("decode_ms", "float64", "decode and preprocessing time of this row, ms"),
    Column("infer_ms", "float64", "model time of this row, ms"),
)

#: column name → :class:`Column`
COLUMNS = {c.name: c for c in RESULT_COLUMNS}


def _base_row(item: Any, variant: Any) -> dict:
    """The manifest part of a row: ``item`` a :class:`~workbench.data.manifest.Item`, ``variant`` a
    :class:`~workbench.audio.variants.Variant`."""
    return {
        "id": item.id, "variant": variant.name, "path": item.path, "label": item.label, "emotion": item.emotion,
        "text": item.text, "speaker": item.speaker, "gender": item.gender, "split": item.split,
        "start": item.start, "duration": item.duration,
        "meta": json.dumps(item.meta, ensure_ascii=False, sort_keys=True, default=str),
        "chain_hash": variant.chain_hash(),
    }


def ok_row(scored: Any) -> dict:
    """The results row of a scored (item, variant): an :class:`~workbench.engine.core.Scored` whose ``ok`` is true."""
    p, facts, info = scored.prediction, scored.facts, scored.info
    row = _base_row(scored.item, scored.variant)
    row.update({
        "status": "ok", "error": "", "error_code": "",
        "pred": p.label, "confidence": p.confidence, "margin": p.margin, "entropy": p.entropy,
        "correct": (p.label == scored.item.emotion) if scored.item.emotion else None,
        **{score_column(k): float(x) for k, x in zip(p.labels, p.scores)},
        "n_frames": p.n_frames, "audio_seconds": info["audio_seconds"],
        "source_sample_rate": info["source_sample_rate"], "source_sha256": info["source_sha256"],
        "unknown_frame_fraction": facts.get("unknown_frame_fraction"), "frame_top_label": facts.get("frame_top_label"),
        "snr_db": facts.get("snr_db"), "silence_fraction": facts.get("silence_fraction"), "cut_start_s": facts.get("cut_start_s"),
        "findings": json.dumps([f.to_dict() for f in scored.findings], ensure_ascii=False),
        "finding_codes": ",".join(f.code for f in scored.findings),
        "chain": json.dumps(info["chain"], ensure_ascii=False, default=str),
        "cache_key": scored.cache_key, "cache_hit": scored.cached, "decode_ms": scored.decode_ms, "infer_ms": scored.infer_ms,
    })
    return row


#: what a failed row holds beyond the manifest part and the error
_FAILED_VALUES = {"findings": "[]", "finding_codes": "", "chain": "[]", "cache_key": "", "cache_hit": False}


def failed_row(item: Any, variant: Any, error: dict, *, labels: Sequence[str] = LABEL_KEYS) -> dict:
    """The results row of an (item, variant) that could not be scored: every result column empty, the error kept.

    Its score columns are those of ``labels``, the model's classes (the nine by default; a fine-tuned head's own),
    where the declared nine stand, so that a run's table has one set of score columns (:func:`score_labels`).
    """
    row = _base_row(item, variant)
    for c in RESULT_COLUMNS:
        if c.name in row:
            continue
        if c.name.startswith(SCORE_PREFIX):
            row.update({score_column(k): None for k in labels if score_column(k) not in row})
        else:
            row[c.name] = _FAILED_VALUES.get(c.name)
    row.update({"status": "failed", "error": error.get("text", ""), "error_code": error.get("code", "error")})
    return row


@functools.lru_cache(maxsize=None)
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def plain_dict(obj: Any) -> dict:
    """``dataclasses.asdict(obj)`` for dataclasses of JSON-like values, five times faster.

    The same dict: nested dataclasses become dicts, dicts, lists and tuples are copied, strings and numbers
    are shared (they cannot change), anything else is deep-copied as ``asdict`` does.  Every processed clip
    turns its steps' records and findings into dicts (~0.1 ms each through ``asdict``'s deep copies), beside
    the model on the same cores (issue #28).
    """
    return {name: _plain(getattr(obj, name)) for name in _field_names(type(obj))}


def _plain(value: Any) -> Any:
    if value is None or type(value) in (str, int, float, bool):
        return value
    if type(value) is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    if type(value) is list:
        return [_plain(v) for v in value]
    if type(value) is tuple:
        return tuple(_plain(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_dict(value)
    return copy.deepcopy(value)
