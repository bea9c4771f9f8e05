"""A folder of audio files as a manifest (no corpus conventions): every file the decoder reads, labelled by
its parent folder on request."""

from __future__ import annotations

import os
import re
from pathlib import Path

from workbench.data.corpora.common import empty_files_note, FOLDER_AUDIO_EXTS, without_lfs_pointers
from workbench.data.manifest import generic_emotion, Item, Manifest
from workbench.errors import ConfigError, printable, without_controls
from workbench.serialize import cut_middle  # paths in notes: PATH_MAX is 4,096, five whole link targets made a 15 KB note



def prepare_folder(folder: str | os.PathLike, *, label_from_folder: bool = False, speaker_pattern: str | None = None) -> Manifest:
    """A manifest of every audio file under ``folder`` (sorted; hidden files and folders skipped).

    ``id`` is the file name without its extension, or the relative path
    without it when two files share a name; a control character, line break
    or right-to-left override in the name (legal on POSIX, refused in an id)
    is written in the id as its escape (``take\\r2``), and a note says so.  With ``label_from_folder``,
    ``label`` is the name of the file's parent folder (``angry/a1.wav`` →
    ``angry``) and ``emotion`` its emotion2vec+ key when it is a common
    English emotion name ("" otherwise; the label stays visible).  With ``speaker_pattern``, a regular expression with
    one group searched in each file's path relative to ``folder`` (``/`` between folders), ``speaker`` is what the group
    matched (``r"^(spk\\d+)/"`` for speaker folders, ``r"^([^_]+)_"`` for ``f1_angry_03.wav``); a file it does not match
    keeps no speaker, and a note counts them.
    """
    speaker_re = _speaker_regex(speaker_pattern)
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError("folder not found." if not root.exists() else "is not a folder.", source=str(root),
                          fix="pass the folder that holds your audio files.")
    root = root.resolve()
    files, unusable = [], []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in FOLDER_AUDIO_EXTS or any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        if p.is_file():
            files.append(p)
        elif p.is_symlink() and not p.exists():
            unusable.append(f"{p.relative_to(root).as_posix()} (a broken link to {cut_middle(os.readlink(p))})")
        elif not p.is_dir():  # a FIFO, socket or device would block or mislead a decoder
            unusable.append(f"{p.relative_to(root).as_posix()} (not a regular file)")
    if not files:
        raise ConfigError(
            f"no audio files ({', '.join(sorted(FOLDER_AUDIO_EXTS))}) under this folder.",
            source=str(root), fix="pass the folder that holds your audio files (subfolders are searched too).",
        )
    def count(keys):
        counts: dict[str, int] = {}
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
        return counts

    rels = [p.relative_to(root) for p in files]
    stems = count(without_controls(p.stem) for p in files)
    no_ext = count(without_controls(r.with_suffix("").as_posix()) for r in rels)
    items, escaped, unmatched = [], [], []
    for p, rel in zip(files, rels):
        name = p.stem if stems[without_controls(p.stem)] == 1 else rel.with_suffix("").as_posix()
        if no_ext.get(without_controls(name), 1) > 1:  # a.wav and a.flac side by side
            name = rel.as_posix()
        item_id = without_controls(name)
        if item_id != name:
            escaped.append(item_id)
        label = p.parent.name if label_from_folder and p.parent != root else ""
        found = speaker_re.search(rel.as_posix()) if speaker_re is not None else None
        speaker = without_controls(found.group(1) or "") if found else ""
        if speaker_re is not None and not speaker:
            unmatched.append(rel.as_posix())
        items.append(Item(id=item_id, path=rel.as_posix(), label=label, emotion=generic_emotion(label) if label else "", speaker=speaker))
    notes = [f"skipped {len(unusable)} name(s) with an audio extension that are not audio files: {printable(', '.join(unusable[:10]))}"
             f"{' …' if len(unusable) > 10 else ''}"] if unusable else []
    if escaped:
        notes.append(f"{len(escaped)} file name(s) hold a control character, a line break or a right-to-left override: their "
                     f"ids show it as its escape ({', '.join(escaped[:10])}{' …' if len(escaped) > 10 else ''}); the paths are the files' own")
    # a link to a file outside the folder is read (symlinked corpora are common) but said: the clips are not all in it
    away = [(r.as_posix(), str(p.resolve())) for p, r in zip(files, rels) if not p.resolve().is_relative_to(root)]
    if away:
        notes.append(f"{len(away)} file(s) are links to files outside the folder, read where they point: "
                     f"{printable(', '.join(f'{cut_middle(r)} -> {cut_middle(t)}' for r, t in away[:5]))}{' …' if len(away) > 5 else ''}")
    if unmatched:
        notes.append(f"{len(unmatched)} of {len(items)} file(s) have no speaker: the speaker pattern '{printable(speaker_pattern)}' does not "
                     f"match their paths ({printable(', '.join(unmatched[:5]))}{' …' if len(unmatched) > 5 else ''})")
    items, pointers = without_lfs_pointers(items, root, "")  # a clone without git-lfs holds text stubs, not audio
    empty = empty_files_note(root, [it.path for it in items])
    return Manifest(items, root=root, name=root.name, notes=notes + [n for n in (pointers, empty) if n])


def _speaker_regex(pattern: str | None):
    """``pattern`` compiled, with exactly one group; a ConfigError naming the fix otherwise."""
    if pattern is None:
        return None
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"is not a regular expression: {exc}.", source=f"--speaker-pattern '{printable(pattern)}'",
                          fix=r"write one with a group, e.g. '^(spk\d+)/' (speaker folders) or '^([^_]+)_' (f1_angry_03.wav).") from None
    if compiled.groups != 1:
        raise ConfigError(f"has {compiled.groups} groups; it needs exactly one, the part that names the speaker.",
                          source=f"--speaker-pattern '{printable(pattern)}'", fix=r"e.g. '^(spk\d+)/' or '^([^_]+)_'.")
    return compiled
