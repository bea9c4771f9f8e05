"""lhotse manifests in and out, so the workbench plugs into k2/icefall-style pipelines.

In: :func:`import_lhotse` reads a ``RecordingSet`` with an optional
``SupervisionSet``, or a ``CutSet``, into a manifest.  Each supervision
becomes an item whose ``start``/``duration`` select its segment of the
recording (a cut's supervision: the cut's start plus the supervision's offset);
a recording or cut without supervisions becomes one item.  The label comes from
a custom field of the supervision (``emotion`` by default) and goes through the
corpus label tables like every other loader (:func:`workbench.data.hf.label_table`).
Audio sources of type ``file`` are referenced; ``memory`` sources are written
under hashed names beside the manifest; ``url``/``command`` sources, recordings
with lhotse transforms (speed, resampling: the workbench would not score what
lhotse plays) and mixed cuts are skipped and counted.

Out: :func:`workbench.runs.lhotse_export.export_lhotse` writes a run's predictions as a ``SupervisionSet``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import interrupts
from workbench.errors import ConfigError
from workbench.data.hf import _rater_labels, emotion_for, label_table, store_audio_bytes, with_label_map
from workbench.data.manifest import Item, Manifest, write_manifest
from workbench.serialize import TABLE_MAX_BYTES, open_regular

logger = logging.getLogger(__name__)


@dataclass
class LhotseImport:
    """The manifest :func:`import_lhotse` made and what it left out (``"<id>: reason"``)."""

    manifest: Manifest
    path: Path | None = None
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        mapped = sum(1 for it in self.manifest.items if it.emotion)
        text = f"{len(self.manifest)} items, {mapped} with an emotion2vec+ counterpart, {len(self.manifest) - mapped} without"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped (e.g. {self.skipped[0]})"
        return text


def _lhotse():
    try:
        with interrupts.deferred():  # lhotse imports torch: a Ctrl-C inside torch's C++ start-up aborts the process (exit -6)
            import lhotse
    except ImportError:
        raise ConfigError("the 'lhotse' package is not installed.", source="lhotse", fix="pip install 'workbench[lhotse]' (or pip install lhotse).") from None
    logging.getLogger("lhotse").setLevel(logging.ERROR)  # its own log lines must not reach the screen
    return lhotse


def _load(value, kind: str):
    """A lhotse manifest object from itself or a file (``load_manifest`` detects the type)."""
    lhotse = _lhotse()
    if value is None or not isinstance(value, (str, os.PathLike)):
        return value
    path = Path(value).expanduser()
    if not path.exists():
        raise ConfigError(f"{kind} manifest not found.", source=str(path), fix="pass the path of a lhotse JSONL(.gz) or JSON manifest.")
    _refuse_oversize(path, kind)
    try:
        return lhotse.load_manifest(path)
    except Exception as exc:  # lhotse's own parse errors
        raise ConfigError(f"is not a lhotse manifest ({type(exc).__name__}: {exc}).", source=str(path),
                          fix=f"pass a lhotse {kind} manifest (JSONL, JSONL.gz or JSON).") from None


def _refuse_oversize(path: Path, kind: str, *, chunk: int = 1 << 20) -> None:
    """Refuse a manifest over :data:`~workbench.serialize.TABLE_MAX_BYTES` once decompressed, counted a chunk at a time
    before lhotse reads it: lhotse holds a whole line as one string and parses it, so a 51 kB gzip of one 50 MB line
    took 347 MB, and a few MB of gzip would have filled the machine."""
    import gzip

    read = 0
    try:
        with open_regular(path, str(path)) as raw:  # a FIFO or device (or one swapped in) is named, never waited on
            gz = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw) if gz else raw
            while block := stream.read(chunk):
                read += len(block)
                if read > TABLE_MAX_BYTES:
                    raise ConfigError(f"holds more than {TABLE_MAX_BYTES:,} bytes{' once decompressed' if gz else ''}; the cap for a "
                                      f"lhotse {kind} manifest is {TABLE_MAX_BYTES:,}.", source=str(path),
                                      fix="check that this is the manifest you meant, or split it.")
    except (OSError, EOFError) as exc:  # a damaged gzip: lhotse's reader names it below
        logger.debug("size check of %s stopped: %s", path, exc)


def import_lhotse(
    *,
    recordings: Any = None,
    supervisions: Any = None,
    cuts: Any = None,
    out: str | os.PathLike | None = None,
    emotion_field: str = "emotion",
    label_map: Any = None,
) -> LhotseImport:
    """Read lhotse manifests (objects or files) into a manifest; write it to ``out`` when given.

    Pass ``recordings`` (with optional ``supervisions``) or ``cuts``.
    ``emotion_field`` names the supervision's custom field that holds the label.
    ``label_map`` as in :func:`workbench.data.hf.import_hf`.
    """
    _lhotse()  # a missing lhotse fails here, with the fix
    if (cuts is None) == (recordings is None):
        raise ConfigError("pass either recordings (with optional supervisions) or cuts.", source="import_lhotse",
                          fix="give --recordings [--supervisions] or --cuts.")
    corpus, custom = label_table(label_map)
    root = Path(out).parent.resolve() if out is not None else Path.cwd()
    audio_dir = root / f"{Path(out).stem}_audio" if out is not None else None
    result = LhotseImport(Manifest([], root=root, name=Path(out).stem if out is not None else "lhotse"),
                          Path(out) if out is not None else None)
    items = result.manifest.items
    if cuts is not None:
        cut_set = _load(cuts, "CutSet")
        for cut in cut_set:
            recording = getattr(cut, "recording", None)
            if type(cut).__name__ != "MonoCut" or recording is None:
                result.skipped.append(f"{cut.id}: a {type(cut).__name__} without one recording (mixed or padded cuts are not read)")
                continue
            path = _recording_path(recording, audio_dir, result)
            if path is None:
                continue
            sups = list(cut.supervisions)
            if not sups:
                items.append(_item(cut.id, path, recording, None, cut.start, cut.duration, cut.channel, emotion_field, corpus, custom, "cut"))
            for s in sups:
                items.append(_item(s.id, path, recording, s, cut.start + s.start, s.duration, s.channel, emotion_field, corpus, custom, "cut"))
    else:
        rec_set = _load(recordings, "RecordingSet")
        sup_set = _load(supervisions, "SupervisionSet") if supervisions is not None else None
        by_recording: dict[str, list] = {}
        for s in sup_set or []:
            by_recording.setdefault(s.recording_id, []).append(s)
        known = {r.id for r in rec_set}
        for rid in sorted(set(by_recording) - known):
            result.skipped.append(f"{by_recording[rid][0].id}: its recording {rid!r} is not in the RecordingSet")
        for recording in rec_set:
            path = _recording_path(recording, audio_dir, result)
            if path is None:
                continue
            sups = by_recording.get(recording.id)
            if sup_set is None or sups is None:
                if sup_set is None:
                    items.append(_item(recording.id, path, recording, None, None, None, None, emotion_field, corpus, custom, "recording"))
                continue
            for s in sorted(sups, key=lambda s: (s.start, s.id)):
                items.append(_item(s.id, path, recording, s, s.start, s.duration, s.channel, emotion_field, corpus, custom, "supervision"))
    if not items:
        raise ConfigError(f"no usable item in the lhotse manifests ({len(result.skipped)} skipped"
                          + (f", e.g. {result.skipped[0]}" if result.skipped else "") + ").",
                          source="import_lhotse", fix="the recordings need audio files (sources of type 'file') or in-memory audio.")
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ConfigError(f"id {dup!r} occurs more than once.", source="import_lhotse", fix="give every supervision (or cut) a unique id.")
    for s in result.skipped[:5]:
        logger.warning("lhotse import: skipped %s", s)
    if out is not None:
        write_manifest(result.manifest, out)
    return result


def _recording_path(recording, audio_dir: Path | None, result: LhotseImport) -> str | None:
    if recording.transforms:
        result.skipped.append(f"{recording.id}: the recording has lhotse transforms ({len(recording.transforms)}) that the workbench does not apply")
        return None
    if len(recording.sources) != 1:
        result.skipped.append(f"{recording.id}: {len(recording.sources)} audio sources (one file per channel) are not read; "
                              "give the recording one multi-channel file")
        return None
    src = recording.sources[0]
    if src.type == "file":
        p = Path(str(src.source)).expanduser()
        if not p.is_file():
            result.skipped.append(f"{recording.id}: no file at {str(src.source)!r}")
            return None
        return str(p.resolve())
    if src.type == "memory":
        if audio_dir is None:
            result.skipped.append(f"{recording.id}: in-memory audio needs an output manifest to write it beside")
            return None
        return str(store_audio_bytes(bytes(src.source), audio_dir).resolve())
    result.skipped.append(f"{recording.id}: audio source of type {src.type!r} (only 'file' and 'memory' are read)")
    return None


def _item(item_id, path, recording, sup, start, duration, channel, emotion_field, corpus, custom, origin) -> Item:
    label = ""
    if sup is not None and sup.custom and sup.custom.get(emotion_field) not in (None, ""):
        label = str(sup.custom[emotion_field])
    whole = start is None or (abs(start) < 1e-9 and abs(duration - recording.duration) < 1e-6)
    meta: dict[str, Any] = {"lhotse": {"origin": origin, "recording_id": recording.id, "recording_duration": recording.duration,
                                       "sampling_rate": recording.sampling_rate}}
    if channel is not None:
        meta["lhotse"]["channel"] = channel
    if sup is not None:
        if sup.language:
            meta["language"] = sup.language
        for k, v in (sup.custom or {}).items():
            if k != emotion_field and (v is None or isinstance(v, (str, int, float, bool)) or _rater_labels(k, v)):
                meta[k] = v
    return Item(
        id=str(item_id), path=path, label=label, emotion=emotion_for(label, corpus, custom) if label else "",
        text=(sup.text or "") if sup is not None else "", speaker=(sup.speaker or "") if sup is not None else "",
        gender=(sup.gender or "") if sup is not None else "",
        start=None if whole else float(start), duration=None if whole else float(duration), meta=with_label_map(meta, label, custom),
    )
