"""Dataset manifests: one row per item.

Columns: ``id, path, label, text, speaker, gender, split, start, duration``
plus ``meta`` (a dict of anything else: intensity, corpus label, fold …).
``start``/``duration`` (seconds) select a segment of a longer file; empty
means the whole file.  ``label`` is the corpus's own label; ``emotion`` (one
of the nine emotion2vec+ keys, or empty when the corpus label has no
counterpart) is filled by the corpus loaders.

Read and write CSV, JSONL and parquet (by file extension).  Relative paths
are resolved against the manifest's folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

from .errors import ConfigError

COLUMNS = ("id", "path", "label", "emotion", "text", "speaker", "gender", "split", "start", "duration")


@dataclass
class Item:
    """One manifest row."""

    id: str
    path: str
    label: str = ""
    emotion: str = ""
    text: str = ""
    speaker: str = ""
    gender: str = ""
    split: str = ""
    start: float | None = None
    duration: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Item":
        known = {f.name for f in fields(cls)}
        raw_meta = data.get("meta")
        if isinstance(raw_meta, str):  # CSV and parquet store meta as JSON text
            raw_meta = json.loads(raw_meta) if raw_meta.strip() else {}
        meta = dict(raw_meta or {})
        kwargs: dict[str, Any] = {}
        for k, v in data.items():
            if k == "meta":
                continue
            if k in known:
                kwargs[k] = v
            else:
                meta[k] = v
        for k in ("start", "duration"):
            v = kwargs.get(k)
            kwargs[k] = None if v in (None, "") or (isinstance(v, float) and v != v) else float(v)
        for k in ("id", "path", "label", "emotion", "text", "speaker", "gender", "split"):
            v = kwargs.get(k)
            kwargs[k] = "" if v is None or (isinstance(v, float) and v != v) else str(v)
        kwargs["meta"] = meta
        return cls(**kwargs)


@dataclass
class Manifest:
    """A list of :class:`Item` plus where relative paths start from."""

    items: list[Item]
    root: Path = field(default_factory=Path.cwd)
    name: str = ""

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def resolve(self, item: Item) -> Path:
        p = Path(item.path).expanduser()
        return p if p.is_absolute() else self.root / p

    def to_frame(self):
        import pandas as pd

        rows = []
        for it in self.items:
            d = it.to_dict()
            d["meta"] = json.dumps(d["meta"], ensure_ascii=False, sort_keys=True)
            rows.append(d)
        return pd.DataFrame(rows, columns=list(COLUMNS) + ["meta"])

    def validate(self, *, check_files: bool = True) -> "ValidationReport":
        return validate(self, check_files=check_files)

    def write(self, path: str | os.PathLike) -> Path:
        return write_manifest(self, path)


@dataclass
class ValidationReport:
    n_items: int
    missing_files: list[str]
    duplicate_ids: list[str]
    unknown_columns: list[str]
    bad_segments: list[str]

    @property
    def ok(self) -> bool:
        return not (self.missing_files or self.duplicate_ids or self.bad_segments)

    def summary(self) -> str:
        parts = [f"{self.n_items} items"]
        if self.missing_files:
            shown = ", ".join(self.missing_files[:5]) + (" …" if len(self.missing_files) > 5 else "")
            parts.append(f"{len(self.missing_files)} missing files ({shown})")
        if self.duplicate_ids:
            parts.append(f"{len(self.duplicate_ids)} duplicate ids ({', '.join(self.duplicate_ids[:5])})")
        if self.bad_segments:
            parts.append(f"{len(self.bad_segments)} bad start/duration ({', '.join(self.bad_segments[:5])})")
        if self.unknown_columns:
            parts.append(f"extra columns kept in meta: {', '.join(self.unknown_columns)}")
        return "; ".join(parts)

    def raise_for_errors(self, source: str) -> None:
        if not self.ok:
            raise ConfigError(
                f"manifest is not valid: {self.summary()}.",
                source=source,
                fix="fix the paths (relative paths start at the manifest's folder), make ids unique, "
                "and give non-negative start/duration.",
            )


def validate(manifest: Manifest, *, check_files: bool = True) -> ValidationReport:
    seen: set[str] = set()
    dups: list[str] = []
    missing: list[str] = []
    bad: list[str] = []
    unknown: set[str] = set()
    for it in manifest.items:
        if it.id in seen:
            dups.append(it.id)
        seen.add(it.id)
        if check_files and not manifest.resolve(it).is_file():
            missing.append(it.path)
        if (it.start is not None and it.start < 0) or (it.duration is not None and it.duration <= 0):
            bad.append(it.id)
        unknown.update(k for k in it.meta.get("_extra_columns", []))
    return ValidationReport(len(manifest.items), missing, sorted(set(dups)), sorted(unknown), bad)


def read_manifest(path: str | os.PathLike, *, validate_files: bool = True) -> Manifest:
    """Read a CSV, JSONL or parquet manifest and validate it (raises :class:`ConfigError`)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("manifest file not found.", source=str(p), fix="check the path; `workbench datasets prepare` writes one.")
    ext = "".join(p.suffixes[-1:]).lower()
    if ext == ".csv":
        import pandas as pd

        df = pd.read_csv(p, dtype=str, keep_default_na=False)
        records = df.to_dict("records")
    elif ext in (".jsonl", ".json"):
        records = []
        with open(p, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise ConfigError(f"line {n} is not valid JSON ({exc.msg}).", source=str(p), fix="one JSON object per line.") from None
    elif ext == ".parquet":
        import pandas as pd

        records = pd.read_parquet(p).to_dict("records")
    else:
        raise ConfigError(f"unknown manifest format {ext!r}; expected .csv, .jsonl or .parquet.", source=str(p), fix="rename or convert the file.")
    if records and not {"id", "path"} <= set(records[0]):
        raise ConfigError(
            f"manifest needs the columns 'id' and 'path'; it has {sorted(records[0])}.",
            source=str(p),
            fix="add them (path may be relative to the manifest's folder).",
        )
    items = []
    extra_cols = sorted(set(records[0]) - set(COLUMNS) - {"meta"}) if records else []
    for r in records:
        it = Item.from_dict(r)
        if extra_cols:
            it.meta["_extra_columns"] = extra_cols
        items.append(it)
    if records and "emotion" not in records[0]:
        # a free-form manifest: derive the emotion2vec+ key from the label's common English names
        from .corpora import map_label

        for it in items:
            it.emotion = map_label("", it.label) if it.label else ""
    manifest = Manifest(items, root=p.resolve().parent, name=p.stem)
    report = validate(manifest, check_files=validate_files)
    report.raise_for_errors(str(p))
    for it in items:
        it.meta.pop("_extra_columns", None)
    return manifest


def write_manifest(manifest: Manifest | Iterable[Item], path: str | os.PathLike) -> Path:
    """Write by extension (.csv, .jsonl, .parquet), atomically."""
    m = manifest if isinstance(manifest, Manifest) else Manifest(list(manifest))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    ext = p.suffix.lower()
    if ext == ".csv":
        m.to_frame().to_csv(tmp, index=False)
    elif ext in (".jsonl", ".json"):
        with open(tmp, "w", encoding="utf-8") as f:
            for it in m.items:
                f.write(json.dumps(it.to_dict(), ensure_ascii=False) + "\n")
    elif ext == ".parquet":
        m.to_frame().to_parquet(tmp, index=False)
    else:
        raise ConfigError(f"unknown manifest format {ext!r}; expected .csv, .jsonl or .parquet.", source=str(p), fix="choose one of those extensions.")
    os.replace(tmp, p)
    return p
