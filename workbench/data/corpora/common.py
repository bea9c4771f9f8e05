"""What every corpus reader shares: the corpus folder's checks, its audio files, and the manifest it ends with."""

from __future__ import annotations

import filecmp
import logging
import os
import stat
from pathlib import Path
from typing import Any, Callable

from workbench.audio.decoders import LFS_POINTER_MAX_BYTES, LFS_POINTER_STARTS
from workbench.data.manifest import Item, Manifest
from workbench.errors import ConfigError, printable
from workbench.serialize import cut_middle

logger = logging.getLogger(__name__)

#: the audio the corpora are distributed in
AUDIO_EXTS = {".wav", ".flac"}
#: what ``prepare_folder`` picks up: everything the decoder reads
FOLDER_AUDIO_EXTS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".webm", ".wma", ".amr", ".3gp", ".mka", ".caf"}
#: a note on left-out files names this many, then counts the rest
SHOWN_SKIPPED = 3
LFS_FIX = ("install git-lfs and run `git lfs pull` in the clone (or clone it again with `git lfs clone`), then make the "
           "manifest again")


def audio_files(root: Path, hidden: list[str] | None = None) -> list[Path]:
    """Every ``.wav``/``.flac`` file under ``root``, sorted; a hidden one (its name, or a folder's on its way, starts with
    ``.``) is no recording and is left out, its path relative to ``root`` added to ``hidden`` (:func:`finish` says how
    many).  An archive made on a Mac carries an AppleDouble file ``._NAME.wav`` (resource fork, magic ``00 05 16 07``)
    beside each file: copies of IEMOCAP hold ``._Ses01F_impro01_F000.wav``, CASIA's reader made each its own item
    (``liuchanhg_angry_._201``), the others named them as misnamed files; ``prepare_folder`` skips hidden files too."""
    files = []
    for p in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTS and p.is_file()):
        if any(part.startswith(".") for part in p.relative_to(root).parts):
            if hidden is not None:
                hidden.append(rel(p, root))
            continue
        files.append(p)
    return files


def rel(path: Path, root: Path) -> str:
    """``path`` relative to the corpus folder (the manifest's ``path``)."""
    return os.path.relpath(path, root)


def require_dir(corpus_dir: str | os.PathLike, corpus: str) -> Path:
    """The corpus folder, resolved; refused when it is no folder."""
    root = Path(corpus_dir).expanduser()
    if not root.is_dir():
        raise ConfigError(f"{corpus} corpus folder not found.", source=str(root), fix="pass the folder the corpus was unpacked into.")
    return root.resolve()


def empty_files_note(root: Path, paths: list[str]) -> str | None:
    """The audio files of 0 bytes among ``paths`` (relative to ``root``), said when the manifest is made: each stays in
    it (``run`` gives its row the error "file is empty"), but a corpus with empty files is an incomplete download and
    should be known before a run.  A file that holds only a header is found by ``run`` ("contains no audio samples")."""
    empty = []
    for rel_path in dict.fromkeys(paths):  # a file cut into segments is listed once
        try:
            if (root / rel_path).stat().st_size == 0:
                empty.append(rel_path)
        except OSError:
            continue  # a missing file is the manifest check's to name
    if not empty:
        return None
    return (f"{len(empty)} audio file(s) are empty (0 bytes): {', '.join(empty[:10])}{' …' if len(empty) > 10 else ''}; "
            "`workbench run` fails their rows ('file is empty'). Re-download or re-export them, or remove them.")


def lfs_pointers(root: Path, paths: list[str]) -> list[str]:
    """The files among ``paths`` (relative to ``root``) that are Git LFS pointers, not audio (:data:`LFS_POINTER_STARTS`);
    only a regular file under :data:`LFS_POINTER_MAX_BYTES` is opened, so a FIFO or a recording is never read."""
    found = []
    for rel_path in dict.fromkeys(paths):
        try:
            info = (root / rel_path).stat()
            if not stat.S_ISREG(info.st_mode) or info.st_size >= LFS_POINTER_MAX_BYTES:
                continue
            with open(os.open(root / rel_path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:  # swapped for a FIFO since stat():
                info = os.fstat(f.fileno())  # a plain open() waited for a writer for ever
                head = f.read(64) if stat.S_ISREG(info.st_mode) and info.st_size < LFS_POINTER_MAX_BYTES else b""
        except OSError:
            continue  # a missing or unreadable file is the manifest check's to name
        if head.startswith(LFS_POINTER_STARTS):
            found.append(rel_path)
    return found


def without_lfs_pointers(items: list[Item], root: Path, what: str) -> tuple[list[Item], str | None]:
    """The items whose file is not a Git LFS pointer, and a note naming those left out; refused when every file is one
    (a corpus downloaded as its repository's ZIP, or cloned without git-lfs: each row would fail in ``run`` as an
    undecodable file, and the cause would be said nowhere)."""
    pointers = set(lfs_pointers(root, [it.path for it in items]))
    if not pointers:
        return items, None
    shown = ", ".join(cut_middle(printable(s)) for s in sorted(pointers)[:SHOWN_SKIPPED])
    if len(pointers) == len({it.path for it in items}):
        raise ConfigError(
            f"every one of the {len(pointers)} {what + ' ' if what else ''}audio files is a Git LFS pointer (a text of about 130 bytes that stands "
            f"for the audio, e.g. {shown}), not a recording: the {'corpus' if what else 'folder'} was downloaded as a ZIP of "
            "its Git repository, or cloned without git-lfs.", source=str(root), fix=LFS_FIX + ".")
    return ([it for it in items if it.path not in pointers],
            f"{len(pointers)} audio file(s) are Git LFS pointers, not recordings, and were left out (e.g. {shown}"
            f"{f' … and {len(pointers) - SHOWN_SKIPPED} more' if len(pointers) > SHOWN_SKIPPED else ''}): the clone's audio "
            f"was not all fetched; {LFS_FIX}.")


def hidden_note(root: Path, hidden: list[str]) -> str:
    """The hidden audio-named files :func:`audio_files` left out, said once: how many, a few names, what they are."""
    shown = ", ".join(cut_middle(printable(s)) for s in hidden[:SHOWN_SKIPPED])
    return (f"{len(hidden)} hidden file(s) with an audio extension in {cut_middle(printable(root))} were not read (e.g. {shown}"
            f"{f' … and {len(hidden) - SHOWN_SKIPPED} more' if len(hidden) > SHOWN_SKIPPED else ''}): a name starting with "
            "'._' is the macOS resource fork (AppleDouble) an archive made on a Mac carries beside each file, not a recording")


def finish(items: list[Item], root: Path, corpus: str, skipped: list[str], *, reason: str | None = None,
           hidden: list[str] | None = None) -> Manifest:
    """The corpus's manifest; refused when no file follows the corpus's naming.  The ``skipped`` files (relative
    paths) are said in ``Manifest.notes`` (and logged) with a count, a few names and ``reason`` (a reader whose items
    come from a table says why its rows were left out; default: the files do not follow the corpus's naming); the
    ``hidden`` files :func:`audio_files` left out are counted; Git LFS pointers are left out and named
    (:func:`without_lfs_pointers`: refused when every file is one)."""
    items, pointer_note = without_lfs_pointers(items, root, corpus)
    if not items:
        other = "" if skipped else _other_formats(root)
        raise ConfigError(
            f"no {corpus} audio files with the corpus's naming were found"
            + (f" ({len(skipped)} files did not match, e.g. {skipped[0]})" if skipped else "") + (other or ".")
            + (f" {len(hidden)} hidden file(s) (a name or a folder starting with '.', e.g. {cut_middle(printable(hidden[0]))}) "
               "were not read." if hidden else ""),
            source=str(root),
            fix=("fetch or convert the corpus's WAV files (CREMA-D: AudioWAV/), or make a manifest of these files with "
                 "`workbench manifest FOLDER`, which reads any audio, and label its rows yourself." if other else
                 f"pass the top folder of the {corpus} distribution (see datasets/README.md for its layout)."),
        )
    notes = [skipped_note(root, corpus, skipped, reason)] if skipped else []
    notes += [note for note in (pointer_note, hidden_note(root, hidden) if hidden else None) if note]
    for note in notes:
        logger.warning("%s: %s", corpus, note)
    items, copies = _without_copies(items, root, corpus)
    manifest = Manifest(items, root=root, name=corpus, notes=notes)
    empty = empty_files_note(root, [it.path for it in items])
    if empty:
        manifest.notes.append(empty)
    if copies:
        note = (f"{len(copies)} files are byte-identical second copies of a file with the same name elsewhere in the folder "
                f"(a corpus unpacked twice, or a download that nests a second copy) and were left out: "
                + "; ".join(copies[:3]) + (f" … and {len(copies) - 3} more" if len(copies) > 3 else ""))
        manifest.notes.append(note)
    return manifest


def _other_formats(root: Path) -> str:
    """Why a folder without a WAV or FLAC file gave nothing, when it holds audio of another format ("" when it holds none): the corpus readers
    read the distributions' WAV/FLAC audio (CREMA-D's ``AudioWAV/``, not the raters' ``AudioMP3/`` copies, four of which
    its README names as wrong), and "pass the top folder" misled a user who had passed it with only the MP3s fetched."""
    found: dict[str, list[str]] = {}
    for p in root.rglob("*"):
        if p.suffix.lower() in FOLDER_AUDIO_EXTS - AUDIO_EXTS and not p.name.startswith(".") and p.is_file():
            found.setdefault(p.suffix.lower(), []).append(rel(p, root))
    if not found:
        return ""
    kinds = ", ".join(f"{len(v)} {k}" for k, v in sorted(found.items(), key=lambda kv: -len(kv[1])))
    first = min(max(found.values(), key=len))  # of the most common kind
    return (f": the folder holds {kinds} file(s) (e.g. {cut_middle(printable(first))}), and the corpus readers read the "
            "distribution's .wav/.flac audio (CREMA-D's AudioWAV/, not the raters' AudioMP3/ copies).")


def skipped_note(root: Path, corpus: str, skipped: list[str], reason: str | None = None) -> str:
    """``"N files in FOLDER do not follow CORPUS's naming (e.g. a.wav, b.wav, c.wav … and 7 more) and were left out"``,
    or with ``reason`` ``"N <reason> (e.g. …)"``: a few names, each path cut in the middle past
    :data:`~workbench.serialize.NOTE_PATH_CHARS`, so the note stays a line or two however many files and however long their paths."""
    shown = ", ".join(cut_middle(printable(s)) for s in skipped[:SHOWN_SKIPPED])
    if len(skipped) > SHOWN_SKIPPED:
        shown += f" … and {len(skipped) - SHOWN_SKIPPED} more"
    if reason is not None:
        return f"{len(skipped)} {reason} (e.g. {shown})"
    one = len(skipped) == 1
    return (f"{len(skipped)} file{'' if one else 's'} in {cut_middle(printable(root))} do{'es' if one else ''} not follow "
            f"{corpus}'s naming (e.g. {shown}) and {'was' if one else 'were'} left out")


def _without_copies(items: list[Item], root: Path, corpus: str) -> tuple[list[Item], list[str]]:
    """The items with one file per id, the one nearest the corpus folder kept: another file under the same name is
    dropped when its bytes equal the kept one's (listed in the returned copies), and refused when they differ (two
    recordings would share one id)."""
    keep: dict[str, Item] = {}
    for it in items:
        if it.id not in keep or (len(Path(it.path).parts), it.path) < (len(Path(keep[it.id].path).parts), keep[it.id].path):
            keep[it.id] = it
    kept, copies = [], []
    for it in items:
        a, b = keep[it.id].path, it.path
        if a == b:
            kept.append(it)
        elif filecmp.cmp(root / a, root / b, shallow=False):
            copies.append(f"{b} (same as {a})")
        else:
            raise ConfigError(
                f"two different {corpus} files carry the same name, {it.id}: {a} and {b}; the corpus names each recording once.",
                source=str(root), fix="pass the folder of one copy of the corpus, or remove the file that does not belong to it.")
    return kept, copies


def manifest_from_names(root: Path, corpus: str, parse: Callable[[str], Any], item: Callable[[Path, Any], Item]) -> Manifest:
    """The manifest of a corpus whose file names carry the labels: each audio file's stem through ``parse`` (``None``:
    not the corpus's naming, skipped and counted), then ``item(path, parsed)``; :func:`finish` ends it."""
    items, skipped, hidden = [], [], []
    for p in audio_files(root, hidden):
        name = parse(p.stem)
        if name is None:
            skipped.append(rel(p, root))
            continue
        items.append(item(p, name))
    return finish(items, root, corpus, skipped, hidden=hidden)
