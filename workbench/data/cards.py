"""What a checkpoint has seen: protocol cards of the known emotion2vec checkpoints.

The cards are data (``cards/emotion2vec.json``): each checkpoint's stages
(the backbone's self-supervised pre-training, the fine-tuning) with their
corpora, hours, source and the date they were read.  Where a publisher does
not say, the card says "not published" — the workbench never guesses.

:func:`corpus_overlap` tells whether a manifest's corpus is on a card, and how
sure that is:

``seen``
    the publisher names the corpus for that stage (e.g. IEMOCAP's audio in
    emotion2vec's self-supervised pre-training: labels not used, audio heard);
``possible``
    the corpus belongs to a named collection the stage drew from without
    saying which items (EmoBox for emotion2vec+ seed, and the data derived
    from it for base and large).

Either way a test on that corpus is not a test on unseen data, and ``metrics``,
reports, MLflow and checkpoint comparisons say so first.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from workbench.errors import ConfigError, ModelError, WorkbenchError, printable
from workbench.labels import RANDOM_WEIGHTS_BANNER, head_random_banner
from workbench.model.checkpoints import read_training_card
from workbench.serialize import cut_middle, load_json_file, loads_json
from workbench.schema import text_values

CARDS_FILE = Path(__file__).with_name("cards") / "emotion2vec.json"


def is_folder(text: Any) -> bool:
    """Whether ``text`` (a card's or a run's path, from anyone) names a folder here; a name longer than the file system
    allows (a card's ``parent.path`` of 5,000 characters) is none: ``Path.is_dir`` raised "File name too long", which
    `metrics` of the head's run reported as "check the name you typed" without naming the card."""
    try:
        return Path(str(text)).expanduser().is_dir()
    except (OSError, ValueError):
        return False


def corpus_key(name: str) -> str:
    """A corpus name reduced for matching: lower case, letters and digits only (``CREMA-D`` → ``cremad``)."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclass(frozen=True)
class Stage:
    stage: str
    labels_used: bool
    corpora: tuple[str, ...]
    hours: Any
    certainty: str  # seen | possible | unknown
    description: str
    note: str
    source: str
    dated: str = ""  # when its source was read ("read 2026-11-30"), or written ("created …" for a fine-tuning)


@dataclass(frozen=True)
class Card:
    model_id: str
    aliases: tuple[str, ...]
    stages: tuple[Stage, ...]
    read: str
    sources: dict

    def to_dict(self) -> dict:
        return {"model_id": self.model_id, "aliases": list(self.aliases), "read": self.read,
                "stages": [s.__dict__ | {"corpora": list(s.corpora)} for s in self.stages]}


class OverlapWarning(str):
    """A training-data warning (the sentence a reader sees) that carries its own short form, ``short``: which corpus on
    which stage, or which speakers trained which head, in a figure mark's few words (:func:`overlap_short`).  Built where
    the sentence is built, so the mark never depends on the sentence's wording; a plain string has no short form."""

    short: str

    def __new__(cls, text: str, short: str = "") -> "OverlapWarning":
        out = super().__new__(cls, text)
        out.short = short
        return out

    def __reduce__(self):
        return OverlapWarning, (str(self), self.short)

    def prefixed(self, prefix: str) -> "OverlapWarning":
        """The warning of one run among several (``run B: ``): the prefix before the sentence and before its short form."""
        return OverlapWarning(prefix + str(self), prefix + self.short if self.short else "")


@dataclass(frozen=True)
class Overlap:
    """One corpus of a manifest found on a checkpoint's card."""

    model_id: str
    corpus: str
    stage: str
    certainty: str
    labels_used: bool
    hours: Any
    note: str
    source: str
    dated: str = ""  # the stage's: the packaged cards' read date, or a fine-tuned head's training card's created time

    def short(self) -> str:
        """Which corpus was (or may be) in which checkpoint's stage: the warning's first words, the mark's whole."""
        name = self.model_id.split("/")[-1]
        if self.certainty == "seen":
            return f"{self.corpus} was in {name}'s {self.stage} data" + ("" if self.labels_used else " (its audio; labels not used)")
        return f"{self.corpus} may be in {name}'s {self.stage} data" + (" (with labels)" if self.labels_used else "")

    def message(self) -> OverlapWarning:
        what = self.short() + ("" if self.certainty == "seen" else f": {self.note}")
        return OverlapWarning(f"training-data overlap: {what}. Source: {self.source}" + (f"; {self.dated}." if self.dated else "."),
                              self.short())

    def to_dict(self) -> dict:
        return {**self.__dict__, "message": self.message()}


@lru_cache(maxsize=1)
def _cards_raw() -> dict:
    return json.loads(CARDS_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def load_cards() -> tuple[Card, ...]:
    """Every card of ``cards/emotion2vec.json``."""
    raw = _cards_raw()
    cards = []
    for c in raw["cards"]:
        stages = []
        for s in c["stages"]:
            s = {**raw[s["ref"]], **{k: v for k, v in s.items() if k != "ref"}} if "ref" in s else s
            corpora = s.get("corpora") or (raw[s["corpora_from"]] if s.get("corpora_from") else [])
            stages.append(Stage(stage=s["stage"], labels_used=bool(s["labels_used"]), corpora=tuple(corpora), hours=s.get("hours", "not published"),
                                certainty=s.get("certainty", "unknown"), description=s.get("description", ""),
                                note=s.get("corpora_note", ""), source=s.get("source", "not published"),
                                dated=f"read {raw['read']}" if raw.get("read") else ""))
        cards.append(Card(c["model_id"], tuple(c.get("aliases", ())), tuple(stages), raw.get("read", ""), raw.get("sources", {})))
    return tuple(cards)


#: the generations of heads a training card's parent chain is followed through (a head of a head of …): a longer chain,
#: or one that comes back to a head already in it (a card naming its own folder as its parent), is refused, never followed
CARD_CHAIN_MAX = 32


def finetuned_card(model_dir: str | None, training: dict, *, _chain: tuple[str, ...] = ()) -> Card:
    """A fine-tuned checkpoint's protocol card: its parent's stages, then the head's training on the corpus of its card."""
    parent = training.get("parent") if isinstance(training.get("parent"), dict) else {}
    chain = (*_chain, os.path.realpath(Path(str(model_dir)).expanduser()))
    inherited = _parent_card(parent.get("id"), chain) or _parent_card(parent.get("path"), chain)
    data = training.get("data") or {}
    stage = Stage(stage="fine-tuning (workbench finetune)", labels_used=True, corpora=tuple(data.get("corpora") or ()),
                  hours="not measured", certainty="seen", description=_trained_on(training),
                  note="", source=f"{Path(str(model_dir)).name}/training_card.json",
                  dated=f"created {training['created']}" if training.get("created") else "")
    return Card(str(model_dir), (), (*(inherited.stages if inherited else ()), stage), training.get("created", ""), {})


def _parent_card(ref: Any, chain: tuple[str, ...]) -> Card | None:
    """The card of a head's parent ``ref`` (its card's ``parent.id`` or ``parent.path``), ``chain`` the heads read down to
    it.  A card is anyone's: one naming its own folder as its parent recursed until Python's stack ran out, reported as
    "nested deeper than a JSON reader goes", and a chain of 1,000 heads read 1,000 cards; both are refused naming the chain."""
    if not isinstance(ref, str) or not ref or not is_folder(ref):
        return card_for(ref) if isinstance(ref, str) else None
    where = os.path.realpath(Path(ref).expanduser())
    names = [printable(Path(p).name) for p in chain]
    shown = " → ".join(names if len(names) <= 5 else [*names[:2], "…", *names[-2:]])
    source, fix = str(Path(chain[-1]) / "training_card.json"), "restore the card `workbench finetune` wrote, or fine-tune again."
    if where in chain:
        raise ModelError(f"the card names {printable(where)} as the head's parent, which is the head itself or one it descends from "
                         f"({shown} → {printable(Path(where).name)}): a head cannot be its own ancestor.", source=source, fix=fix)
    if len(chain) >= CARD_CHAIN_MAX:
        raise ModelError(f"the card's chain of parents goes on past {CARD_CHAIN_MAX} heads ({shown} → …), more than the workbench "
                         "follows.", source=source, fix=fix)
    training = read_training_card(where)
    return finetuned_card(where, training, _chain=chain) if training is not None else card_for(ref)


def _trained_on(training: dict) -> str:
    """What a head saw in training, counted on its train and validation sides only: the card's ``data.n_items`` counts
    the held-out test items too ("trained on 100 items" of a head that trained on 60), and a speaker on both sides (folds
    by item) was counted twice."""
    counts = (training.get("labels") or {}).get("counts") or {}
    speakers = training.get("speakers") or {}
    seen = {str(s) for side in ("train", "validation") for s in (speakers.get(side) or ())}
    n = {side: sum(int(k) for k in (counts.get(side) or {}).values()) for side in ("train", "validation", "test")}
    if not counts:  # an older card without per-side counts: its total, said as what it is
        return f"head trained on {(training.get('data') or {}).get('n_items', '?')} items (train, validation and test together) of {len(seen)} train/validation speakers"
    stopped = f"early-stopped on {n['validation']}" if n["validation"] else "no validation items"
    return (f"head trained on {n['train']} items, {stopped} (of {len(seen)} train/validation speakers); "
            f"{n['test']} held-out test items not trained on")


def speakers_of(source: Any) -> list[str]:
    """Speaker ids of a manifest or a results DataFrame ([] for anything else)."""
    items = getattr(source, "items", None)
    if items is not None and not callable(items):
        return [s for s in dict.fromkeys(str(it.speaker) for it in items) if s]
    if hasattr(source, "columns") and "speaker" in source.columns:
        return [s for s in dict.fromkeys(text_values(source["speaker"])) if s]
    return []


def speaker_overlap_message(model_id: str | None, source: Any) -> OverlapWarning | None:
    """A warning when ``source`` holds speakers a fine-tuned checkpoint was trained or early-stopped on."""
    training = read_training_card(model_id) if model_id and is_folder(model_id) else None
    if training is None:
        return None
    spk = training.get("speakers") or {}
    seen = {str(s) for side in ("train", "validation") for s in (spk.get(side) or ())}
    here = speakers_of(source)
    both = [s for s in here if s in seen]
    if not both:
        return None
    shown = ", ".join(both[:8]) + (f" … ({len(both)} in all)" if len(both) > 8 else "")
    head = head_name(str(model_id))
    short = f"speakers {', '.join(both[:3]) + (', …' if len(both) > 3 else '')} ({len(both)} of {len(here)}) trained head {head}"
    return OverlapWarning(f"speaker overlap: {len(both)} of the {len(here)} speakers evaluated here ({shown}) trained or early-stopped the "
                          f"fine-tuned head {head}; figures on them are not speaker-independent. "
                          f"Its held-out speakers: {', '.join(map(str, spk.get('test') or [])) or 'none'}.", short)


def head_name(folder: str) -> str:
    """A fine-tuned head's folder name, quoted (a head folder named ``head`` read "the fine-tuned head head"); for an
    ONNX export (its ``model.json``), the head it was exported from, then the export's folder (it named the export's)."""
    name = f'"{Path(folder).name}"'
    if not is_folder(folder) or not (Path(folder).expanduser() / "model.json").is_file():
        return name
    source = onnx_source(folder)
    return f'"{Path(source).name}" (its ONNX export {name})' if source else name


def random_weights_banner(model: Any) -> str:
    """The RANDOM WEIGHTS banner of ``model`` (a run's model reference, a ``ModelInfo``, or ``None``): for a fine-tuned
    head whose training card says its parent has random weights, :func:`~workbench.labels.head_random_banner` naming
    the head and its parent; else :data:`~workbench.labels.RANDOM_WEIGHTS_BANNER`.  Every command prints this one."""
    def get(key: str) -> Any:
        return model.get(key) if isinstance(model, dict) else getattr(model, key, None)

    path = (get("path") or get("id")) if model is not None else None
    if path and get("kind") == "onnx":
        path = onnx_source(str(path)) or path
    try:
        card = read_training_card(str(path)) if path and is_folder(path) else None
    except (WorkbenchError, OSError):  # an unreadable card: the generic banner, never none
        card = None
    parent = card.get("parent") if isinstance(card, dict) else None
    if isinstance(parent, dict) and parent.get("random_weights"):
        # the parent's id is the card's text: one holding a line break printed a '!! …' line of its own on every command
        return head_random_banner(printable(head_name(str(path))), printable(cut_middle(str(parent.get("id") or "a random checkpoint"))))
    return RANDOM_WEIGHTS_BANNER


def card_for(model_id: str | None) -> Card | None:
    """The card of a checkpoint: a hub id (``iic/emotion2vec_plus_large``), an alias (``large``), a Hugging Face id,
    a local folder named like the checkpoint (a ModelScope download keeps the name), or a folder written by
    ``workbench finetune`` (its ``training_card.json``).  None when unknown."""
    if not model_id:
        return None
    if is_folder(model_id):
        training = read_training_card(model_id)
        if training is not None:
            return finetuned_card(str(model_id), training)
    text = str(model_id).strip().rstrip("/")
    candidates = {text, text.split("/")[-1], Path(text).name}
    for card in load_cards():
        names = {card.model_id, card.model_id.split("/")[-1], *card.aliases}
        if candidates & names:
            return card
    return None


def corpora_of(source: Any) -> list[str]:
    """Corpus names of a manifest, a results DataFrame (``meta.corpus``) or a name."""
    if isinstance(source, str):
        return [source]
    names: list[str] = []
    items = getattr(source, "items", None)
    if items is not None and not callable(items):  # a Manifest
        names = [str(it.meta.get("corpus", "")) for it in items]
        if not any(names) and getattr(source, "name", ""):
            names = [source.name]
    elif hasattr(source, "columns"):  # a results DataFrame
        if "meta" in source.columns:
            for m in source["meta"].dropna().unique():
                try:
                    d = loads_json(m) if isinstance(m, str) else dict(m)
                except (ValueError, TypeError):
                    continue
                names.append(str(d.get("corpus", "")))
        if "corpus" in source.columns:
            names += [str(x) for x in source["corpus"].dropna().unique()]
    elif isinstance(source, Iterable):
        names = [str(x) for x in source]
    else:
        raise ConfigError(f"cannot tell the corpus of a {type(source).__name__}.", fix="pass a Manifest, a results DataFrame or a corpus name.")
    return [n for n in dict.fromkeys(names) if n]


def corpus_overlap(card: Card | str | None, source: Any) -> list[Overlap]:
    """Which corpora of ``source`` (Manifest, results DataFrame, corpus name) the checkpoint's card names, stage by stage."""
    if isinstance(card, str):
        card = card_for(card)
    if card is None:
        return []
    out = []
    for corpus in corpora_of(source):
        key = corpus_key(corpus)
        for st in card.stages:
            match = next((c for c in st.corpora if corpus_key(c) == key), None)
            if match is not None:
                out.append(Overlap(card.model_id, match, st.stage, st.certainty, st.labels_used, st.hours, st.note, st.source,
                                   st.dated))
    return out


def overlap_messages(model_id: str | None, source: Any) -> list[OverlapWarning]:
    """The warning lines for a run of ``model_id`` on ``source`` ([] when nothing overlaps or the checkpoint is unknown).

    A fine-tuned checkpoint adds a line when ``source`` holds the speakers it was trained on."""
    lines = [o.message() for o in corpus_overlap(card_for(model_id), source)]
    speakers = speaker_overlap_message(model_id, source)
    return lines + ([speakers] if speakers else [])


def prefixed(warning: str, prefix: str) -> str:
    """``prefix`` before a warning, and before its short form where it has one (:meth:`OverlapWarning.prefixed`)."""
    return warning.prefixed(prefix) if isinstance(warning, OverlapWarning) else prefix + str(warning)


def overlap_short(warnings: Iterable[str], *, limit: int = 120) -> str:
    """What overlaps, in a figure mark's few words, from :func:`run_training_overlap`'s warnings (a comparison's with
    ``run NAME: `` before each, :meth:`OverlapWarning.prefixed`): ``IEMOCAP was in emotion2vec_plus_large's fine-tuning
    data`` or ``speakers spk0, spk1 (2 of 4) trained head ckpt``, each warning's own :attr:`OverlapWarning.short`, never
    read back out of its sentence; ``""`` for none (a plain string has none); cut with … past ``limit`` characters."""
    parts = [w.short for w in warnings if isinstance(w, OverlapWarning) and w.short]
    text = "; ".join(dict.fromkeys(parts))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def run_training_overlap(rf: Any, *, checkpoint: str | None = None) -> list[OverlapWarning]:
    """Warnings that a run's corpus is on its checkpoint's protocol card, or its speakers trained a fine-tuned head
    ([] when not, or the checkpoint is unknown); ``rf`` is a :class:`~workbench.runs.folder.RunFolder`.

    ``checkpoint`` names the published checkpoint the run's model is (an id or
    alias such as ``large``), for a run scored from a local copy under another name;
    default: the run's model id.
    """
    if checkpoint is not None and card_for(checkpoint) is None:
        known = ", ".join(c.model_id for c in load_cards())
        raise ConfigError(f"checkpoint {checkpoint!r} has no protocol card; cards exist for {known}.",
                          fix="pass one of those ids (or an alias such as large, base, seed), or leave the option out.")
    model = rf.model_ref
    model_id = checkpoint or model.get("id") or model.get("model")
    if checkpoint is None and card_for(model_id) is None and model.get("path"):
        model_id = model["path"]  # a checkpoint folder (a fine-tuned head's training card lives there)
        if model.get("kind") == "onnx" and card_for(model_id) is None:  # an export: the checkpoint it was made from
            model_id = onnx_source(model_id) or model_id
    return overlap_messages(model_id, rf.results())


def adapted_blocks(rf: Any) -> int:
    """The encoder blocks a run's fine-tuned checkpoint adapted (``--unfreeze K``: its training card's
    ``training.unfreeze``), so the run's embeddings come from blocks its training speakers trained; 0 for a head-only
    fine-tune (its embeddings are its parent's), a checkpoint without a card, or a card that cannot be read (run and
    metrics say so).  An ONNX export's checkpoint is the one it was made from."""
    model = rf.model_ref
    path = model.get("path")
    if path and model.get("kind") == "onnx":
        path = onnx_source(path)
    try:
        card = read_training_card(path) if path else None
    except WorkbenchError:  # an unreadable card is said where the run is read; here it adapts nothing known
        return 0
    k = ((card or {}).get("training") or {}).get("unfreeze")
    return k if isinstance(k, int) and not isinstance(k, bool) and k > 0 else 0


def onnx_source(folder: str) -> str | None:
    """The checkpoint an ONNX export was made from, by its ``model.json``: the source folder while it is there (a
    fine-tuned head's card lives in it), else the source's id (``iic/emotion2vec_plus_large``); None when unreadable."""
    try:
        meta = load_json_file(Path(folder) / "model.json", what="an ONNX export's model.json", max_bytes=1 << 20)
    except ConfigError:
        return None
    meta = meta if isinstance(meta, dict) else {}
    path = str(meta.get("source_path") or "")
    return path if path and is_folder(path) else (str(meta.get("source_model") or "") or None)
