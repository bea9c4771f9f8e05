"""``similar``: the cosine of two files' utterance embeddings, placed among the cosines of reference pairs.

A bare cosine has no scale: emotion2vec+ utterance embeddings are anisotropic (they share a large common
direction), so two unrelated clips often reach a cosine of 0.8 or more, and the tiny random checkpoint gives
0.99 for a happy and a sad sentence.  So the pair is compared with pairs that are *not* the same clip: a
reference set of clips is scored by the same checkpoint, the cosine of every pair of different reference
clips is taken, and the pair's cosine is placed among them (its percentile, and whether it lies above all of
them, within their range or below it).  Only a cosine above every reference pair says the two files are more
alike than two different clips are; with fewer than :data:`REFERENCE_MIN_PAIRS` pairs nothing is placed.

The default reference is the shipped demo clips (synthetic espeak-ng sentences, one per emotion and
language), without the two that are copies of another clip (telephone band, added noise) and the tone (not
speech).  ``reference=`` takes a manifest or a folder of audio files, ideally clips of the corpus the pair
comes from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.analysis.embeddings import cosine, l2_normalise
from workbench.audio.variants import RAW
from workbench.data.corpora.folder import FOLDER_AUDIO_EXTS, prepare_folder
from workbench.data.demoset import DEMO_DATA
from workbench.data.manifest import Manifest, read_manifest
from workbench.engine.core import Engine, WorkItem, score_sources
from workbench.engine.findings import NO_SOUND
from workbench.engine.prediction_cache import default_cache_dir, PredictionCache
from workbench.errors import ConfigError, WorkbenchError, printable
from workbench.serialize import NOTE_PATH_CHARS, cut_middle
from workbench.model.ref import ModelRef
from workbench.paths import file_problem, refuse_url, shell_command
from workbench.runs.folder import RESULTS, RunFolder

#: fewer reference pairs than this and the pair's cosine is not placed (5 clips give 10 pairs)
REFERENCE_MIN_PAIRS = 10
#: a larger reference set is sampled (seeded) down to this many clips: 100 clips give 4950 pairs
REFERENCE_MAX_CLIPS = 100
#: shipped demo clips left out of the default reference: copies of another clip (the 8 kHz telephone copy of
#: happy_en_44k, happy_zh_onset0 with noise), which are not different clips, and the tone, which is not speech
DEMO_LEFT_OUT = ("happy_en_tel8k", "happy_zh_noisy5db", "tone_440hz")
DEMO_REFERENCE = "the shipped demo clips"
REFERENCE_FIX = ("pass a manifest (.csv, .jsonl or .parquet) or a folder of audio files, ideally clips of the corpus the pair comes "
                 "from, or leave --reference out to use the shipped demo clips.")


@dataclass
class Reference:
    """The reference clips, the words that name them, and notes (a sample drawn, demo clips left out)."""

    manifest: Manifest
    name: str
    notes: list[str] = field(default_factory=list)


def reference_set(reference: "Reference | str | os.PathLike | None" = None) -> Reference:
    """The reference clips: ``None`` the shipped demo clips less :data:`DEMO_LEFT_OUT`; a folder every audio file under
    it; a file a manifest.  Anything else is refused with a :class:`ConfigError` naming ``--reference``; more than
    :data:`REFERENCE_MAX_CLIPS` clips are sampled down (seeded), and a note says so."""
    if isinstance(reference, Reference):
        return reference
    notes: list[str] = []
    if reference is None:
        manifest = read_manifest(DEMO_DATA / "manifest.csv")
        kept = [it for it in manifest.items if it.id not in DEMO_LEFT_OUT]
        notes.append(f"left out {len(manifest) - len(kept)} demo clips that are copies of another or not speech ({', '.join(DEMO_LEFT_OUT)})")
        manifest = Manifest(kept, root=manifest.root, name=manifest.name, source=manifest.source)
        name = f"{DEMO_REFERENCE} ({len(kept)} synthetic sentences)"
    else:
        refuse_url(reference, "--reference", source="--reference")
        text = os.fspath(reference)
        p = Path(text).expanduser()
        if not text.strip() or not p.exists():
            raise ConfigError("--reference is empty." if not text.strip() else "--reference names no such file or folder.", source=printable(text) or "--reference", fix=REFERENCE_FIX)
        if p.is_file() and p.suffix.lower() in FOLDER_AUDIO_EXTS:  # "rename or convert the file" misled here
            raise ConfigError("--reference is one audio file; it takes a set of clips (at least 5 give the 10 pairs needed).",
                              source=printable(text), fix="put the reference clips in a folder and pass the folder, or pass a manifest of them.")
        if p.is_dir() and (p / RESULTS).is_file():  # a run folder holds no audio: "no audio files under this folder"
            raise ConfigError("--reference is a run folder; it takes the clips themselves: a folder of audio files or a "
                              "manifest.", source=printable(text),
                              fix=f"pass the run's manifest: --reference {shell_command(run_manifest(p))}.")
        try:  # a manifest's clip that is no readable file (missing, a URL, a FIFO, a device) is left out as a folder's is
            manifest = prepare_folder(p) if p.is_dir() else _readable_clips(read_manifest(p, missing="keep"), notes)
        except ConfigError as exc:
            raise ConfigError(f"--reference cannot be read as a reference set: {exc.message}", source=printable(text),
                              fix=exc.fix or REFERENCE_FIX) from exc
        notes += [printable(n) for n in manifest.notes]  # what the folder or manifest left out (a FIFO, a device) is said
        name = printable(str(p))
    if len(manifest) > REFERENCE_MAX_CLIPS:
        picked = sorted(np.random.default_rng(0).choice(len(manifest), REFERENCE_MAX_CLIPS, replace=False))
        notes.append(f"a seeded sample of {REFERENCE_MAX_CLIPS} of its {len(manifest)} clips")
        manifest = Manifest([manifest.items[i] for i in picked], root=manifest.root, name=manifest.name, source=manifest.source)
    return Reference(manifest, name, notes)


def run_manifest(run_dir: Path) -> str:
    """The manifest a run folder scored (as its experiment.yaml names it, resolved), or MANIFEST when unreadable."""
    try:
        return str(RunFolder(run_dir).experiment().manifest or "MANIFEST")
    except WorkbenchError:
        return "MANIFEST"


#: unreadable reference clips named in the note (all are counted)
LEFT_OUT_NAMED = 5

def _readable_clips(manifest: Manifest, notes: list[str]) -> Manifest:
    """The manifest's items whose path is a regular file; the others (missing, a URL, a pipe, a device, a folder) are
    left out before any is opened (a FIFO would block the reader) and said in ``notes``.  The whole reference was
    refused for one such clip, with a fix naming `workbench run --skip-missing`, an option ``similar`` does not have."""
    kept, gone = [], []
    for it in manifest.items:
        # the path named by its start and length: a field holds up to 10,000 characters, and six made a 50 KB line
        said = it.path if len(it.path) <= NOTE_PATH_CHARS else f"{cut_middle(it.path)} ({len(it.path):,} characters)"
        problem = file_problem(said, manifest.resolve(it))
        (gone if problem else kept).append(problem or it)
    if gone:
        notes.append(f"left out {len(gone)} clip(s) of the manifest that are not readable files: "
                     + "; ".join(printable(g) for g in gone[:LEFT_OUT_NAMED]) + (" …" if len(gone) > LEFT_OUT_NAMED else ""))
    return Manifest(kept, root=manifest.root, name=manifest.name, source=manifest.source, notes=list(manifest.notes))


def reference_cosines(net: Any, manifest: Manifest, pair_sha: tuple[str | None, str | None], *,
                      cache: PredictionCache | None = None) -> tuple[np.ndarray, dict]:
    """Cosines of every pair of different reference clips, scored by ``net``, and what was left out.

    A clip that cannot be scored is left out (counted, its first errors kept); so are a pair of two clips with the
    same content (not different clips) and the pair ``pair_sha`` itself when both of its files are in the reference
    (it would be placed among its own cosine).  ``cache``: the prediction cache ``run`` uses (keyed by the audio's
    sha256, the chain and the checkpoint's checksum and precision), so each reference clip is scored once per
    checkpoint, not on every call; entries are written as a run writes them (its default granularity)."""
    work = [WorkItem(it, manifest.resolve(it).absolute(), (RAW,)) for it in manifest.items]
    scored = [s for chunk in Engine(net, workers=0, cache=cache).score(work) for s in chunk]
    failed = [f"{printable(s.item.id)}: {printable((s.error or {}).get('message', 'failed'))}" for s in scored if not s.ok]
    ok = [s for s in scored if s.ok and s.prediction.embedding is not None]
    # a clip without sound (digital silence, DC only, inaudible) has an embedding that says nothing about speech: its
    # pairs are not pairs of different clips of speech, so it is left out, and named (it was used without a word)
    silent = [s for s in ok if any(f.code in NO_SOUND for f in s.findings)]
    ok = [s for s in ok if s not in silent]
    left = {"clips_scored": len(ok), "clips_failed": len(failed), "failed": failed[:5], "pairs_left_out": 0,
            "clips_from_cache": sum(bool(s.cached) for s in ok), "clips_silent": len(silent),
            "silent": [printable(s.item.id) for s in silent][:5], "left_out_why": (0, 0)}
    if len(ok) < 2:
        return np.zeros(0), left
    unit = l2_normalise(np.stack([s.prediction.embedding for s in ok]))
    # a clip's identity: the audio's sha256 and its stretch, or its prediction-cache key (sha256, stretch, chain,
    # checkpoint, precision), made for every scored clip with or without a cache.  With the sha256 of the facts alone,
    # the full test suite once kept a copy as a pair of different clips (not reproduced alone; the cause not found)
    shas = [(s.info.get("source_sha256"), s.item.start, s.item.duration) for s in ok]
    keys = [s.cache_key for s in ok]
    the_pair = set(pair_sha) if None not in pair_sha and len(set(pair_sha)) == 2 else None
    upper = np.triu_indices(len(ok), k=1)
    same = np.array([(shas[i][0] is not None and shas[i] == shas[j]) or (keys[i] is not None and keys[i] == keys[j])
                     for i, j in zip(*upper)], dtype=bool)
    own = np.array([shas[i][0] is not None and {shas[i][0], shas[j][0]} == the_pair for i, j in zip(*upper)], dtype=bool)
    drop = same | own
    left["pairs_left_out"] = int(drop.sum())
    left["left_out_why"] = (int(own.sum()), int(same.sum()))  # put in words by similar(), which knows the two files' names
    return (unit @ unit.T)[upper][~drop].astype(float), left


def left_out_words(own: int, same: int, names: tuple[str, str] = ("the first file", "the second file")) -> str:
    """Why reference pairs were left out, in words ("" when none was): the screen said "14 pairs" after "15 pairs" unexplained.

    ``names``: the two files compared.  "pair(s) of the two files themselves, which are reference clips" left a reader
    asking which files and why: it is the compared pair itself, found among the reference's pairs."""
    a, b = names
    mine = ("the pair being compared" if own == 1 else f"{own} copies of the pair being compared")
    why = ([f"{mine} ({a} and {b} are both reference clips: their cosine would be placed among its own value)"] if own else []) + (
        [f"{same} pair(s) of two clips with the same content (not different clips)"] if same else [])
    return f"left out {own + same} reference pair(s): {'; '.join(why)}" if why else ""


def silent_words(n: int, names: list[str]) -> list[str]:
    """The note on reference clips left out for holding no sound (none: no note)."""
    if not n:
        return []
    shown = ", ".join(names) + (f" and {n - len(names)} more" if n > len(names) else "")
    return [f"left out {n} reference clip(s) without sound (digital silence, DC only or inaudible), whose embeddings say "
            f"nothing about speech: {shown}"]


def place(value: float, pairs: np.ndarray) -> dict:
    """Where ``value`` lies among the reference ``pairs``: percentile, range, and ``above`` (True only above them all)."""
    n = len(pairs)
    out: dict = {"pairs": n, "min": None, "median": None, "max": None, "percentile": None, "position": None, "above_reference": None,
                 "pairs_less_alike": None, "pairs_more_alike": None}
    if n:
        out.update(min=float(pairs.min()), median=float(np.median(pairs)), max=float(pairs.max()))
    if n < REFERENCE_MIN_PAIRS or value != value:
        return out
    pct = 100.0 * (np.sum(pairs < value) + 0.5 * np.sum(pairs == value)) / n
    position = "above" if value > out["max"] else "below" if value < out["min"] else "within"
    out.update(percentile=float(pct), position=position, above_reference=position == "above",
               pairs_less_alike=int(np.sum(pairs < value)), pairs_more_alike=int(np.sum(pairs > value)))
    return out


def reference_words(ref: dict, *, random_weights: bool) -> str:
    """The placement in one sentence, for the screen and the JSON."""
    n = ref["pairs"]
    if ref["position"] is None:
        return (f"NOT PLACED: the reference set gives {n} pair(s) of different clips, fewer than the {REFERENCE_MIN_PAIRS} needed "
                f"to say whether this cosine is high or low for this checkpoint (pass --reference with at least 5 clips that can be scored)")
    span = f"{n} pairs of different reference clips (range {ref['min']:.4f} to {ref['max']:.4f}, median {ref['median']:.4f})"
    if ref["position"] == "above":
        words = f"above all {span}: the two files are more alike than any two different reference clips"
    elif ref["position"] == "below":
        words = f"below all {span}: the two files are less alike than any two different reference clips"
    else:
        words = f"WITHIN THE RANGE of {span}, at percentile {ref['percentile']:.0f}: {within_words(ref)}"
    if random_weights:
        words += " (random weights: the reference is scored by the same meaningless checkpoint, so this placement means nothing either)"
    return words


def within_words(ref: dict) -> str:
    """A cosine within the reference range in words that read the same both ways and follow the counts: less alike than
    most pairs of different clips where at least three quarters are more alike, more alike than most (not than all)
    where at least three quarters are less alike, and in the middle half about as alike as a typical pair (a bare
    majority, 8 of 15 pairs more alike at percentile 47, was called "less alike than most pairs")."""
    n, less, more = ref["pairs"], ref["pairs_less_alike"], ref["pairs_more_alike"]
    counts = f"{less} of the {n} pairs are less alike, {more} more alike"
    if more >= 0.75 * n:
        lead = f"the two files are less alike than most pairs of different reference clips ({counts})"
    elif less >= 0.75 * n:
        lead = f"the two files are more alike than most pairs of different reference clips, not than all ({counts})"
    else:
        lead = f"the two files are about as alike as a typical pair of different reference clips ({counts})"
    return f"{lead}; the cosine does not show the two files are more alike than two different clips"


def similar(a: Any, b: Any, model: Any = None, *, reference: "Reference | str | os.PathLike | None" = None,
            use_cache: bool = True, cache_dir: str | os.PathLike | None = None) -> dict:
    """Cosine similarity of two files' utterance embeddings, their predictions, and the cosine's place among the
    cosines of pairs of different clips of a reference set (``reference``: a manifest or folder; the shipped demo
    clips by default; or what :func:`reference_set` returned) scored by the same checkpoint.  The reference is read
    (and refused) before anything is scored; its predictions go through the prediction cache (``cache_dir``, by
    default ``run``'s) unless ``use_cache`` is False."""
    ref_set = reference_set(reference)
    cache = PredictionCache(cache_dir or default_cache_dir()) if use_cache else None
    net = ModelRef.coerce(model).load()
    sa, sb = score_sources(net, [a, b], workers=0)
    pa, pb = sa.prediction_or_raise(), sb.prediction_or_raise()
    value = cosine(pa.embedding, pb.embedding)
    pair_sha = (sa.info.get("source_sha256"), sb.info.get("source_sha256"))
    pairs, left = reference_cosines(net, ref_set.manifest, pair_sha, cache=cache)
    named = tuple(printable(Path(x).name) if isinstance(x, (str, os.PathLike)) else default
                  for x, default in ((a, "the first file"), (b, "the second file")))
    why = left_out_words(*left.pop("left_out_why"), named)
    ref = {"source": ref_set.name, "clips": len(ref_set.manifest), **left, **place(value, pairs),
           "notes": ref_set.notes + silent_words(left["clips_silent"], left["silent"]) + ([why] if why else [])}
    ref["words"] = reference_words(ref, random_weights=bool(net.random_weights))
    return {"a": str(a), "b": str(b), "cosine": value, "label_a": pa.label, "confidence_a": pa.confidence,
            "label_b": pb.label, "confidence_b": pb.confidence, "random_weights": bool(net.random_weights), "model": net.info.id,
            # the cosine depends on the precision (bfloat16 moves embeddings): which one scored both files and the reference
            "dtype": net.info.dtype, "checksum": net.info.checksum, "reference": ref,
            # a file with no sound (digital silence, DC only, inaudible) has an embedding but no voice to compare
            "errors": [f"{printable(str(src))}: {f.message}: {f.suggestion}" for src, sc in ((a, sa), (b, sb))
                       for f in sc.findings if f.severity == "error"]}
