"""Explanations kept in the run folder, keyed by what made them, and never trusted without their checksums.

An explanation of a run item depends on the item's audio (its id, the source
file's sha256, its segment and its variant's chain hash), on the model (its
weights' checksum, id, dtype, temperature and device) and on the settings
(methods, class, curve points, randomisation, random orders, seeds, span,
words).  :func:`cache_key` puts all of them in one dict; the entry's file
names are the first 20 hex digits of the key's sha256 (never an id or a
variant name), written only through :meth:`RunFolder.write_artifact`:

``explain_<hash>.json``
    the envelope: the key itself, the explanation record, the screen lines,
    and the sha256 of the record, the lines and the two binary files;
``explain_<hash>.png`` / ``explain_<hash>.wav``
    the figure and the top-evidence span (no ``.wav`` when there is no span).

The envelope is written last, so an interrupted write leaves no entry.  On
reading (:func:`read_cached`) an entry whose key differs from the one asked
for (a foreign file under that name), whose checksums do not match its
content (a damaged or edited entry), or that is a link, is reported with the
reason and recomputed, never used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from workbench.errors import ConfigError
from workbench.files import strict_json
from workbench.runs.experiment import portable_summary, summary_paths
from workbench.runs.folder import RunFolder
from workbench.serialize import loads_json, read_bytes_capped

#: bump when an explanation's content changes meaning: older entries then miss
CACHE_VERSION = 8  # 2: the random reference inserts in the reverses of its deletion orders; 3: IG of a
#                    bfloat16/float16 model differentiates its float32 weights; 4: a random-weights model's figure
#                    carries RANDOM_WEIGHTS_MARK at its foot (``random_weights_mark`` in the record and artifacts.json);
#                    5: an item of a run on its checkpoint's training data carries the TRAINING DATA mark too;
#                    6: a stability pair or randomisation check with no rank correlation fails / is UNDETERMINED;
#                    7: the TRAINING DATA mark is the item's own (its speaker trained the head), not the run's;
#                    8: IG's pieces' errors count in size and its map is halved until it stops moving (map_change)
#: the record's keys of the marks at a figure's foot, copied into artifacts.json beside the PNG
FIGURE_MARKS = ("random_weights_mark", "training_overlap_mark", "training_overlap")
#: what an envelope says it is
CACHE_FORMAT = "workbench explain cache"
#: the most bytes a cache file (envelope, figure or span) is read to: they were read whole, so a runaway or planted
#: entry of gigabytes filled memory before its checksum was checked
ENTRY_MAX_BYTES = 64 * 2**20
#: the stem of every cache file (the feature's artifact names: ``explain_<20 hex>.json|png|wav``)
CACHE_STEM = "explain"


@dataclass
class Rendered:
    """One explanation as every output shows it: the JSON record, the figure, the span and the screen lines."""

    record: dict
    png: bytes
    wav: bytes | None
    lines: list[str] = field(default_factory=list)


def cache_key(row: dict, *, model: dict, settings: dict) -> dict:
    """The key of a run item's explanation: the item and its audio, the model, the settings (plain JSON values).

    ``row`` is the item's results row (``id``, ``variant``, ``chain_hash``, ``source_sha256``, ``start``,
    ``duration``); ``model`` holds ``checksum``, ``id``, ``dtype``, ``temperature``, ``device``;
    ``settings`` the explanation's parameters (methods, class, steps, randomisation, …).
    """
    def plain(v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            return None if v != v else v
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in sorted(v.items())}
        try:
            f = float(v)
            return None if f != f else f
        except (TypeError, ValueError):
            return str(v)

    item = {k: plain(row.get(k)) for k in ("id", "variant", "chain_hash", "source_sha256", "start", "duration")}
    return {"version": CACHE_VERSION, "item": item, "model": plain(model), "settings": plain(settings)}


def _digest(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def _canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def entry_names(key: dict) -> dict[str, str]:
    """``{"json": …, "png": …, "wav": …}``: the entry's file names, from the key's hash only."""
    h = _digest(_canonical(key))[:20]
    return {ext: f"{CACHE_STEM}_{h}.{ext}" for ext in ("json", "png", "wav")}


def _read_file(rf: RunFolder, name: str) -> bytes | None:
    """The bytes of a run-folder file, or ``None`` when absent; a link is refused (``ValueError``)."""
    p = rf.path / name
    if p.is_symlink():
        raise ValueError(f"{name} is a link")
    if not p.is_file():
        return None
    size = p.stat().st_size
    if size > ENTRY_MAX_BYTES:
        raise ValueError(f"{name} is {size:,} bytes, over the cap of {ENTRY_MAX_BYTES:,} for an explain cache file")
    return read_bytes_capped(p, max_bytes=ENTRY_MAX_BYTES, what="an explain cache file", decompress=False)


def read_cached(rf: RunFolder, key: dict) -> tuple[Rendered | None, str]:
    """``(rendered, note)``: the verified entry for ``key``, or ``None`` and why (``no entry``, or what was wrong).

    A wrong entry is never returned: the key must equal ``key`` and every checksum must match.
    """
    names = entry_names(key)
    try:
        raw = _read_file(rf, names["json"])
        if raw is None:
            return None, "no entry"
        env = loads_json(raw.decode("utf-8"))
        if not isinstance(env, dict) or env.get("format") != CACHE_FORMAT:
            return None, f"{names['json']} is not an explain cache entry (foreign file)"
        if env.get("key") != key:
            return None, f"{names['json']} holds another key (foreign entry)"
        sums = env.get("sha256") or {}
        record, lines = env.get("record"), env.get("lines")
        if not isinstance(record, dict) or _digest(_canonical(record)) != sums.get("record"):
            return None, f"{names['json']}: the record does not match its checksum (damaged)"
        if not isinstance(lines, list) or _digest(_canonical(lines)) != sums.get("lines"):
            return None, f"{names['json']}: the screen lines do not match their checksum (damaged)"
        png = _read_file(rf, names["png"])
        if png is None or _digest(png) != sums.get("png"):
            return None, f"{names['png']} is missing or does not match its checksum (damaged)"
        wav = None
        if sums.get("wav") is not None:
            wav = _read_file(rf, names["wav"])
            if wav is None or _digest(wav) != sums["wav"]:
                return None, f"{names['wav']} is missing or does not match its checksum (damaged)"
    except (OSError, ValueError, UnicodeDecodeError, ConfigError) as exc:
        return None, f"{names['json']} cannot be read ({exc})"
    record = summary_paths(record, rf.path)  # the model's path absolute again (written relative or under ~)
    return Rendered(record, png, wav, [str(x) for x in lines]), f"read {names['json']} (computed {env.get('computed_at', '?')})"


def write_cached(rf: RunFolder, key: dict, rendered: Rendered) -> str:
    """Store ``rendered`` under ``key`` (figure and span first, the envelope last); returns the envelope's name."""
    names = entry_names(key)
    meta = {"explain_cache": {"item": key["item"].get("id"), "variant": key["item"].get("variant")}}
    mark = {k: rendered.record[k] for k in FIGURE_MARKS if rendered.record.get(k)}
    rf.write_artifact(names["png"], lambda f: f.write(rendered.png), meta={**meta, **mark})
    if rendered.wav is not None:
        rf.write_artifact(names["wav"], lambda f: f.write(rendered.wav), meta=meta)
    # as it reads back: the checksum is of what is stored, the model's path as summary.json records it (no home folder)
    record = json.loads(strict_json(portable_summary(rendered.record, rf.path), indent=None))
    env = {"format": CACHE_FORMAT, "key": key, "computed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "record": record, "lines": list(rendered.lines),
           "sha256": {"record": _digest(_canonical(record)), "lines": _digest(_canonical(list(rendered.lines))),
                      "png": _digest(rendered.png), "wav": None if rendered.wav is None else _digest(rendered.wav)}}
    text = strict_json(env)
    rf.write_artifact(names["json"], lambda f: f.write(text), text=True, meta=meta)
    return names["json"]
