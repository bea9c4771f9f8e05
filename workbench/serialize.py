"""Data in and out of files others read or wrote: bounded YAML and tables, spreadsheet-safe CSV, figure text, figures.

Reading files other people wrote, with bounds.  An experiment file, a votes table, an alignment or
a manifest may come from anyone.  Each reader here checks the size before a value is used, so a
small file cannot grow into gigabytes in memory (a YAML alias bomb, a gzip bomb, a million-row
table), and what the workbench writes back as CSV cannot run as a formula when a spreadsheet opens
it.

The caps are far above any legitimate file of its kind (the largest corpus tables, MSP-Podcast's
``labels_detailed.csv``, hold about 1.3 million rows in 180 MB) and far below what exhausts a
machine; each error names the cap and the fix.

Writing results: matplotlib text of data strings (no mathtext), and saving figures atomically.
"""

from __future__ import annotations

import codecs
import copy
import gzip
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.files import write_figure
from workbench.errors import (  # noqa: F401  (the CSV cells every writer and reader uses, public here as before)
    FORMULA_STARTS, read_spreadsheet_csv, spreadsheet_cell, spreadsheet_line, spreadsheet_safe, spreadsheet_value, to_csv_text,
)
from workbench.schema import plain_dict  # noqa: F401  (lives in schema; engine, audio and tests import it from here)

#: an experiment, variants or run ``config.yaml``: a real one is a few kB
YAML_MAX_BYTES = 1_000_000
#: nesting of mappings and lists in such a file (a real one nests 4 deep)
YAML_MAX_DEPTH = 32
#: scalars, mappings and lists in such a file
YAML_MAX_NODES = 200_000
#: a table of votes, alignments or manifest rows, as bytes read (after decompression)
TABLE_MAX_BYTES = 512_000_000
#: rows of such a table
TABLE_MAX_ROWS = 2_000_000
#: one field of such a table (a transcript is a few hundred characters)
FIELD_MAX_CHARS = 10_000
#: the characters a value may show in an error message
SHOWN_CHARS = 80
#: texts up to this size keep their parsed value for the process (a checkpoint's ``config.yaml`` is read by its
#: safety check, its description and its loader: 4 parses of ~12 ms each per `workbench run`, pure-Python PyYAML)
YAML_MEMO_CHARS = 65_536
_YAML_MEMO: dict[tuple[str, int, int, bool], Any] = {}


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters, saying how long it was: error messages stay one line."""
    if isinstance(value, (str, bytes)) and len(value) > 10 * limit:
        value = value[: 2 * limit]  # never build the repr of a huge string
        text = repr(value)
        return text[:limit] + "…"
    if isinstance(value, (list, tuple, dict, set)) and len(value) > limit:
        return f"<{type(value).__name__} of {len(value)} entries>"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


#: the characters of a path a note names (its start and its end, around an ellipsis)
NOTE_PATH_CHARS = 120


def size_text(n_bytes: int) -> str:
    """A file size for a person: ``1.6 kB``, ``2.3 MB`` (a 1.6 kB report page read "0.0 MB")."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} bytes"


def cut_middle(text: str, limit: int = NOTE_PATH_CHARS) -> str:
    """``text`` as a note names it: whole up to ``limit`` characters, else its start and its end around an ellipsis
    (a path keeps its file name); a note of several paths stays a few lines."""
    return text if len(text) <= limit else f"{text[:limit // 2]}…{text[-(limit // 2):]}"


# ---------------------------------------------------------------------------
# YAML
# ---------------------------------------------------------------------------
#: the largest whole number a YAML file the workbench reads may hold (a 64-bit integer)
YAML_MAX_INT = 2**63 - 1
def _bounded_loader(source: str, max_depth: int, max_nodes: int, unique_keys: bool = False):
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """PyYAML's safe loader with no aliases, bounded nesting and a bounded number of nodes."""

        depth = 0
        nodes = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise ConfigError(
                    f"uses a YAML alias (*{event.anchor}) at line {event.start_mark.line + 1}; aliases are refused in files "
                    "the workbench reads (a few lines of them can expand to gigabytes).",
                    source=source, fix="write the value out in full where the alias stands.")
            self.nodes += 1
            if self.nodes > max_nodes:
                raise ConfigError(f"holds more than {max_nodes} values; a settings file holds a few hundred.", source=source,
                                  fix="check that this is the file you meant; split data out into a manifest.")
            self.depth += 1
            try:
                if self.depth > max_depth:
                    mark = self.peek_event().start_mark
                    raise ConfigError(f"nests deeper than {max_depth} levels (line {mark.line + 1}).", source=source,
                                      fix="flatten the file; settings nest a few levels at most.")
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node, deep=False):
            if unique_keys:  # PyYAML keeps the last of two equal keys without a word
                seen = set()
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=True) if isinstance(key_node, yaml.ScalarNode) else None
                    if key is not None and key in seen:
                        raise ConfigError(f"sets {shown(key)} twice in one mapping (line {key_node.start_mark.line + 1}); the "
                                          "second would silently replace the first.", source=source, fix="keep the one you mean.")
                    seen.add(key)
            return super().construct_mapping(node, deep)

        def construct_yaml_int(self, node):  # 0xfff…f of 5,000 digits: every message, float() and dump of it raised
            value = super().construct_yaml_int(node) if len(node.value) <= 64 else None
            if value is None or abs(value) > YAML_MAX_INT:
                raise ConfigError(f"line {node.start_mark.line + 1}: the whole number {shown(node.value, 40)} is past "
                                  f"±{YAML_MAX_INT:,} (2**63 - 1); no setting is that large.", source=source,
                                  fix="write the number you mean (a seed, a size, a rate).")
            return value

    BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)
    return BoundedLoader


def load_yaml_text(text: str, *, source: str, max_depth: int = YAML_MAX_DEPTH, max_nodes: int = YAML_MAX_NODES,
                   unique_keys: bool = False) -> Any:
    """Parse YAML written by anyone: safe types only, no aliases, bounded depth and size (``unique_keys``: a key set
    twice in one mapping refused, as settings a person writes should be; a checkpoint's own file keeps PyYAML's last).

    Raises
    ------
    ConfigError
        An alias, nesting past ``max_depth``, more than ``max_nodes`` values, or YAML that does not parse;
        the message names the line.
    """
    import yaml

    if len(text) > YAML_MAX_BYTES:
        raise ConfigError(f"is {len(text):,} characters long; a settings file is a few kB (cap {YAML_MAX_BYTES:,}).",
                          source=source, fix="check that this is the file you meant.")
    key = (text, max_depth, max_nodes, unique_keys)
    if key in _YAML_MEMO:  # the same text parsed before, within the same bounds: a copy, callers may change it
        return copy.deepcopy(_YAML_MEMO[key])
    loader = None
    try:  # the reader checks every character as it is built: a NUL in the file is a YAMLError there
        loader = _bounded_loader(source, max_depth, max_nodes, unique_keys)(text)
        value = loader.get_single_data()
        if len(text) <= YAML_MEMO_CHARS:
            if len(_YAML_MEMO) >= 16:
                _YAML_MEMO.pop(next(iter(_YAML_MEMO)))
            _YAML_MEMO[key] = copy.deepcopy(value)
        return value
    except RecursionError:
        raise ConfigError(f"nests deeper than {max_depth} levels.", source=source, fix="flatten the file.") from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an integer of more digits than Python converts
        raise ConfigError(f"is not valid YAML ({shown(str(exc), 300)}).", source=source,
                          fix="fix the line the message names (a YAML linter shows it).") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml_file(path: str | os.PathLike, *, source: str | None = None, max_bytes: int = YAML_MAX_BYTES,
                   unique_keys: bool = False) -> Any:
    """Read and parse a YAML file with :func:`load_yaml_text`'s bounds, refusing a file over ``max_bytes`` unread."""
    p = Path(path)
    source = source or str(Path(os.path.abspath(p)))
    data = read_bytes_capped(p, max_bytes=max_bytes, source=source, what="a settings file", decompress=False)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"is not UTF-8 text ({exc.reason} at byte {exc.start}).", source=source,
                          fix="save the file as UTF-8.") from None
    return load_yaml_text(text, source=source, unique_keys=unique_keys)


class RepeatedKey(ValueError):
    """A JSON object names one key twice (``json`` keeps the last value)."""


def _unique_keys(pairs: list) -> dict:
    """An object of a small JSON file, refused when it names a key twice: ``json`` keeps the last, so a label map
    ``{"hap": "happy", "hap": "angry"}`` mapped hap to angry without a word."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise RepeatedKey(f"names the key {shown(twice, 60)} twice in one object; which value counts would be a guess")
    return out


def load_json_file(path: str | os.PathLike, *, what: str = "a settings file", max_bytes: int = YAML_MAX_BYTES,
                   source: str | None = None) -> Any:
    """Read and parse a small JSON file someone gave (a label map): over ``max_bytes`` it is refused unread (a 56 MB
    label map of 3 million labels took 980 MB), as is text that is not UTF-8 JSON, with what and where."""
    import json

    p = Path(path)
    source = source or str(Path(os.path.abspath(p)))
    data = read_bytes_capped(p, max_bytes=max_bytes, source=source, what=what, decompress=False)
    try:
        return json.loads(data.decode("utf-8-sig"), object_pairs_hook=_unique_keys)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"is not UTF-8 text ({exc.reason} at byte {exc.start}).", source=source,
                          fix="save the file as UTF-8.") from None
    except RepeatedKey as exc:
        raise ConfigError(f"{exc}.", source=source, fix=f"keep one entry per key in {what}.") from None
    except ValueError as exc:
        raise ConfigError(f"is not valid JSON ({exc}).", source=source, fix=f"write {what} as one JSON object.") from None
    except RecursionError:
        raise ConfigError("nests too deeply to be read.", source=source, fix=f"write {what} as one flat JSON object.") from None



#: the end of what may be a key (a quote, spaces, a colon), for text and for bytes
_KEY_END = {True: re.compile(r'"[ \t\r\n]*:'), False: re.compile(rb'"[ \t\r\n]*:')}


def loads_json(text: str | bytes, *, unique_keys: bool = False) -> Any:
    """``json.loads`` of text someone else wrote, where JSON nested deeper than the parser goes (a few kB of ``[``) is
    the :class:`json.JSONDecodeError` of any other bad JSON: ``json`` raises ``RecursionError`` for it, which no
    reader caught, so a manifest line, a run folder's JSON or a checkpoint's card of ``[[[[…`` ended the command in
    'unexpected RecursionError'.

    ``unique_keys``: raise :class:`RepeatedKey` when an object names a key twice (``{"label": "happy", "label":
    "angry"}`` was read as angry without a word).  Parsing with ``object_pairs_hook`` is about 2.5 times slower, so
    text with one ``{`` (one object: a flat manifest line) is parsed plainly and checked again only when it holds more
    key ends (``"`` then ``:``) than the object has keys; every key occurrence has one, so equal counts prove no key
    repeats.  Text with several ``{`` (nested objects) is parsed with the check at once."""
    import json

    try:
        if not unique_keys:
            return json.loads(text)
        is_text = isinstance(text, str)
        if text.count("{" if is_text else b"{") > 1:
            return json.loads(text, object_pairs_hook=_unique_keys)
        value = json.loads(text)
        keys = len(value) if isinstance(value, dict) else 0
        if text.count(":" if is_text else b":") > keys and len(_KEY_END[is_text].findall(text)) > keys:
            json.loads(text, object_pairs_hook=_unique_keys)  # colons in values ("C:/a.wav") are no keys
        return value
    except RecursionError:
        doc = text if isinstance(text, str) else ""
        raise json.JSONDecodeError("nested deeper than a JSON reader goes (thousands of [ or {)", doc, 0) from None
    except ValueError as exc:  # a number of more than 4,300 digits: Python's own limit, not a JSONDecodeError
        if isinstance(exc, (json.JSONDecodeError, RepeatedKey)):
            raise
        doc = text if isinstance(text, str) else ""
        raise json.JSONDecodeError("a number of more digits than a reader takes (4,300)", doc, 0) from None


# ---------------------------------------------------------------------------
# files and gzip
# ---------------------------------------------------------------------------
def read_bytes_capped(path: str | os.PathLike, *, max_bytes: int = TABLE_MAX_BYTES, source: str | None = None,
                      what: str = "a table", decompress: bool = True) -> bytes:
    """The bytes of ``path``, gunzipped when it starts with gzip's magic and ``decompress``, never more than
    ``max_bytes`` (a 1.5 MB gzip bomb stops at the cap instead of filling memory)."""
    p = Path(path)
    source = source or str(Path(os.path.abspath(p)))
    try:
        with open_regular(p, source) as f:
            head = f.read(2)
            f.seek(0)
            gz = decompress and head == b"\x1f\x8b"
            if not gz and os.fstat(f.fileno()).st_size > max_bytes:  # refused by its size, unread (a 2 GB file: 512 MB read)
                raise ConfigError(f"holds {os.fstat(f.fileno()).st_size:,} bytes; the cap for {what} is {max_bytes:,}.",
                                  source=source, fix="check that this is the file you meant, or split it.")
            stream = gzip.GzipFile(fileobj=f) if gz else f
            try:
                data = _read_upto(stream, max_bytes + 1, None if gz else os.fstat(f.fileno()).st_size + 1)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise ConfigError(f"is not a readable gzip file ({exc}).", source=source,
                                  fix="pass the file as the corpus ships it, or unpacked.") from None
    except OSError as exc:
        raise ConfigError(f"cannot be read ({os.strerror(exc.errno) if exc.errno else exc}).", source=source,
                          fix="check the path and its permissions.") from None
    if len(data) > max_bytes:
        raise ConfigError(f"holds more than {max_bytes:,} bytes{' once decompressed' if gz else ''}; "
                          f"the cap for {what} is {max_bytes:,}.", source=source,
                          fix="check that this is the file you meant, or split it.")
    return data


def open_regular(p: Path, source: str):
    """``p`` opened for reading when it is a regular file; a named pipe, a device or a socket (itself or behind a
    link) is refused by what it is.  Opening a FIFO waited for a writer for ever (an experiment file, a variants
    file or an alignment planted as a FIFO hung the command), and ``/dev/zero`` was read up to the cap (512 MB)."""
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))  # a FIFO opens at once
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
                    else "a socket" if stat.S_ISSOCK(mode) else "a device")
            raise ConfigError(f"is {kind}, not a regular file, so it is not read.", source=source,
                              fix="copy what it holds into a regular file and pass that file.")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_upto(stream: Any, limit: int, hint: int | None) -> bytes:
    """At most ``limit`` bytes of ``stream``.  ``read(limit)`` on a file asks for the whole cap at once (512 MB for a
    table of a few kB); a regular file is read in one piece of its size (``hint``), then what it grew by meanwhile."""
    if hint is None or hint >= limit:
        return stream.read(limit)
    first = stream.read(hint)
    if len(first) < hint:
        return first  # the end of the file
    more = stream.read(limit - len(first))
    return first + more if more else first


def count_lines(path: str | os.PathLike, *, max_bytes: int = TABLE_MAX_BYTES, chunk: int = 1 << 20) -> int | None:
    """The lines of a UTF-8 (or ASCII) file as ``\\n``, ``\\r\\n`` and a lone ``\\r`` end them, counted on its bytes a chunk
    at a time (memory: one chunk), so that a table over a row cap is refused before it is read, decoded and parsed.

    None when the file cannot be read, starts with a UTF-16 or UTF-32 byte-order mark (a 0x0A byte is then no line end: a Gurmukhi
    letter holds one; count in the decoded text) or is longer than ``max_bytes`` (the byte cap refuses it).  A line
    end is a single byte in UTF-8: no byte of a multi-byte character is 0x0A or 0x0D.
    """
    n = cr_lf = read = 0
    last_cr = False
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            if any(head.startswith(bom) for bom, codec in BYTE_ORDER_MARKS if codec != "UTF-8-sig"):
                return None
            f.seek(0)
            while block := f.read(chunk):
                read += len(block)
                if read > max_bytes:
                    return None
                n += block.count(b"\n") + block.count(b"\r")
                cr_lf += block.count(b"\r\n") + (last_cr and block[:1] == b"\n")  # a \r\n split across two chunks
                last_cr = block[-1:] == b"\r"
    except OSError:
        return None  # the reader that follows names the reason
    return n - cr_lf


LONE_CR = "its lines end with a lone carriage return (\\r), and JSON Lines ends a line at \\n only"
CR_FIX = "convert the line ends to \\n (`tr '\\r' '\\n'`)."


def bad_json_line(n: int, why: str, line: str) -> str:
    """What is wrong with line ``n`` of JSON Lines, which ``json`` refused for ``why``: a lone \\r (old-Mac line ends)
    made the whole file one line, and 'Extra data' alone did not say so."""
    return f"line {n} is not valid JSON ({why})" + (f"; {LONE_CR}." if "\r" in line.rstrip("\r") else ".")


def read_text_capped(path: str | os.PathLike, *, max_bytes: int = TABLE_MAX_BYTES, max_rows: int = TABLE_MAX_ROWS,
                     source: str | None = None, what: str = "a table", encoding: str = "utf-8",
                     errors: str = "strict") -> str:
    """The text of a (possibly gzipped) table, refused past ``max_bytes`` decompressed or ``max_rows`` lines."""
    p = Path(path)
    source = source or str(Path(os.path.abspath(p)))
    data = read_bytes_capped(p, max_bytes=max_bytes, source=source, what=what)
    rows = data.count(b"\n")
    if rows > max_rows:
        raise ConfigError(f"has {rows:,} lines; the cap for {what} is {max_rows:,}.", source=source,
                          fix="check that this is the file you meant, or split it.")
    try:
        return data.decode(encoding, errors=errors)
    except UnicodeDecodeError as exc:
        name = "UTF-8" if encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig") else encoding
        raise ConfigError(f"is not {name} text ({exc.reason} at byte {exc.start}).", source=source,
                          fix=f"save the file as {name}.") from None


#: byte-order marks and the codec that reads past them; UTF-32's little-endian mark (FF FE 00 00) begins with UTF-16's
#: (FF FE), so it is tried first.  Excel's "Unicode text" export is UTF-16 with FF FE.
BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF8, "UTF-8-sig"),
                    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
_TO_UTF8 = "save it as UTF-8 (Excel: \"CSV UTF-8 (Comma delimited)\")"


_LINE = None


def text_lines(text: str):
    """The lines of ``text`` (ends kept, split at \\n, \\r and \\r\\n as ``io.StringIO(text, newline="")`` splits them), one
    at a time: for ``csv.reader``, which ``io.StringIO`` would make hold the text again at 4 bytes a character (a
    150 MB votes file of one line took 920 MB)."""
    global _LINE
    if _LINE is None:
        import re

        _LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
    return (m.group() for m in _LINE.finditer(text))


def newline_lines(text: str):
    """``text.split("\\n")`` one line at a time (JSON Lines ends lines at \\n only): the list of every line, held beside
    the text and the records, took a 1.5M-row JSONL manifest (145 MB) from 1,248,136 kB to 1,489,088 kB at its peak."""
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1


def decode_text(data: bytes, *, source: str) -> str:
    """The text of a table someone saved: UTF-8 (a byte-order mark or none), or UTF-16 / UTF-32 when it starts with
    their byte-order mark (read by it: the bytes were capped before, and the text is no longer than they are).

    Raises
    ------
    ConfigError
        Bytes that are not text in the encoding, naming the byte, its line and the fix for what the bytes look like:
        Latin-1 for a stray byte, UTF-16 without a mark when a quarter or more of the first kB are NUL bytes.
    """
    codec = next((c for bom, c in BYTE_ORDER_MARKS if data.startswith(bom)), "UTF-8")
    try:
        text = data.decode(codec.lower())
    except UnicodeDecodeError as exc:
        if codec.startswith("UTF-8"):
            line = data[: exc.start].count(b"\n") + 1
            raise ConfigError(f"is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}).", source=source,
                              fix=f"{_TO_UTF8}; for Latin-1 text: `iconv -f latin1 -t utf-8 in.csv > out.csv`.") from None
        raise ConfigError(f"starts with a {codec} byte-order mark but is not {codec} text ({exc.reason} at byte {exc.start}).",
                          source=source, fix=f"{_TO_UTF8}, or convert it: `iconv -f {codec.lower()} -t utf-8 in.csv > out.csv`.") from None
    head = data[:1000]
    if codec == "UTF-8" and head.count(0) * 4 >= len(head) > 0:  # every other byte NUL: UTF-16 text of ASCII letters
        raise ConfigError(f"holds NUL bytes ({head.count(0)} of its first {len(head)}): it looks like UTF-16 text saved "
                          "without a byte-order mark, not UTF-8.", source=source,
                          fix=f"{_TO_UTF8}, or convert it: `iconv -f utf-16le -t utf-8 in.csv > out.csv`.")
    return text


#: bytes at a file's start in which NULs are counted to tell UTF-16 without a byte-order mark
SNIFF_BYTES = 4096


def decode_sniffed_text(raw: bytes, *, source: str, legacy: tuple[str, ...] = (), what: str = "text", advice: str = "") -> str:
    """Text whose encoding is not said: its byte-order mark's codec; else, with no NUL byte, UTF-8 then each ``legacy``
    codec; else UTF-16 without a mark when the NULs of its first :data:`SNIFF_BYTES` sit on 1 code unit in 16 or more,
    4 times as often at one parity as at the other (ASCII's high byte: odd offsets little-endian, even big-endian; CJK
    has a NUL only in U+xx00, as 一), and the whole decodes with no NUL character.  ESD's reader wanted NULs on half the
    units (a mostly-Mandarin transcript fell short: no text), TextGrid's none at the other parity (一 refused the file).
    Raises ConfigError naming ``source``, the byte and an ``iconv`` command (``advice`` goes before it)."""
    bom = next((c for b, c in BYTE_ORDER_MARKS if raw.startswith(b)), None)
    head = raw[:min(SNIFF_BYTES, len(raw) - len(raw) % 2)]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    utf16 = 32 * max(even, odd) >= len(head) and 4 * min(even, odd) <= max(even, odd)
    tries = (bom,) if bom else ("UTF-8", *legacy) if 0 not in raw else ("UTF-16LE" if odd > even else "UTF-16BE",) * utf16
    errors = []
    for codec in tries:
        try:
            text = raw.decode(codec.lower())
        except UnicodeDecodeError as exc:
            errors.append(f"byte {exc.start:,} (0x{raw[exc.start]:02x}) is not {codec.replace('-sig', '')} ({exc.reason})")
        else:
            if "\x00" not in text:
                return text
    at = raw.find(0)
    why = errors[0] if errors else (f"it holds NUL characters, the first at byte {at:,}, not on every other byte as in "
                                    "UTF-16 text (a binary file, or UTF-16 whose first lines were cut)")
    codec = bom or (("UTF-16LE" if odd >= even else "UTF-16BE") if at >= 0 else (*legacy, "LATIN1")[0])
    name, to = Path(source).name, Path(source).stem + ".utf8" + Path(source).suffix
    raise ConfigError(f"is not {what} in {', '.join(['UTF-8', *legacy])} or UTF-16: {why}.", source=source,
                      fix=f"{advice}convert it: `iconv -f {codec.replace('-sig', '')} -t UTF-8 '{name}' > '{to}'` (with the "
                          "encoding it was saved in, if not that one).")


def refuse_repeated_columns(header: list[str], *, source: str) -> None:
    """Refuse a table header that names a column twice (blank names aside: trailing commas leave several): a reader
    keeps one value per name, so the later column silently replaced the earlier one (a manifest with ``label`` twice
    took the second column's labels, a votes table with ``votes_happy`` twice dropped the first column's votes)."""
    seen: dict[str, int] = {}
    repeated: list[str] = []
    for k, name in enumerate(header, start=1):
        if not name:
            continue
        if name in seen:
            repeated.append(f"{shown(name, 40)} (columns {seen[name]} and {k})")
        else:
            seen[name] = k
    if repeated:
        raise ConfigError(f"its header names {len(repeated)} column(s) twice: {', '.join(repeated[:5])}"
                          f"{' …' if len(repeated) > 5 else ''}; which column holds the values would be a guess.",
                          source=source, fix="rename or remove the repeated column(s) so that each name is one column.")


def check_fields(rows: Any, *, source: str, max_chars: int = FIELD_MAX_CHARS) -> None:
    """Refuse a table (a DataFrame or rows of strings) with a field longer than ``max_chars``, naming the row."""
    pd = sys.modules.get("pandas")  # a DataFrame exists only once pandas is imported: a CSV's rows do not pay for it
    if pd is not None and isinstance(rows, pd.DataFrame):
        for col in rows.columns:
            s = rows[col]
            if s.dtype == object:
                lengths = s.map(lambda v: len(v) if isinstance(v, str) else 0)
                if len(lengths) and lengths.max() > max_chars:
                    i = int(lengths.to_numpy().argmax())
                    raise ConfigError(f"row {i + 1}, column {shown(col)}: a field of {int(lengths.max()):,} characters; "
                                      f"the cap is {max_chars:,}.", source=source,
                                      fix="check that this is the file you meant (a broken quote runs fields together).")
        return
    for i, row in enumerate(rows):
        for v in (row if isinstance(row, (list, tuple)) else [row]):
            if isinstance(v, str) and len(v) > max_chars:
                raise ConfigError(f"row {i + 1}: a field of {len(v):,} characters; the cap is {max_chars:,}.", source=source,
                                  fix="check that this is the file you meant (a broken quote runs fields together).")


def signed_bound(x: float) -> str:
    """An interval's bound at 3 decimals, or at its first significant digit where those round it to ±0.000:
    a sweep's '[-0.009, -0.000]' beside '≈ reference: interval holds 0' on the next row read as holding 0, and it
    did not (-0.0004); compare's mean shift '[-0.000, +0.004]' hid the same."""
    return f"{x:+.3f}" if x == 0 or abs(x) >= 0.0005 else f"{x:+.1g}"


def figure_text(text: object) -> str:
    """A data string (a speaker, a label, a variant name) as plain text for a matplotlib figure.

    Matplotlib reads text between two ``$`` as mathtext; a label holding ``$\\frac{a}{$`` then fails
    to draw (or draws markup).  Every ``$`` is escaped, and control characters (NUL, newlines) are
    shown as escapes so one label stays on one line.
    """
    s = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))
    return s.replace("$", r"\$")


#: the name the calibration figures use for :func:`figure_text`
plain_text = figure_text


def save_figure(fig, path: str | Path | None = None, *, dpi: int = 110, layout: bool = True):
    """Lay out ``fig``; with ``path``, write it and close it. Returns the figure.

    ``layout=False`` keeps the margins the caller set (``fig.subplots_adjust``): ``tight_layout``
    draws the whole figure once more to measure its text, a quarter to a third of a figure's time.
    """
    if layout:
        fig.tight_layout()
    if path:
        fmt = Path(path).suffix.lstrip(".").lower() or "png"
        write_figure(path, fig, dpi=dpi, format=fmt)  # atomic, never through a link; closes the figure
    return fig


def fit_span_labels(ax, spans, *, pad_px: float = 4.0) -> None:
    """Shorten each label drawn over a bar of ``ax`` until it fits inside its bar, or hide it.

    ``spans``: (text artist, x start, x end) in data units, after the figure's layout.  A label wider than its bar
    spilled over its neighbours ("cheerful" over a 2.5 s span of a 53 s file); the candidates are the text, its first
    word (a trailing mark dropped), then that word cut to a prefix with "…"; none fits, the label is hidden."""
    renderer = ax.figure.canvas.get_renderer()
    for text, x0, x1 in spans:
        room = abs(ax.transData.transform((x1, 0))[0] - ax.transData.transform((x0, 0))[0]) - 2 * pad_px
        full = text.get_text()
        word = full.split(" ")[0] or full
        for candidate in (full, word, *(word[:n] + "…" for n in range(len(word) - 1, 0, -1))):
            text.set_text(candidate)
            if text.get_window_extent(renderer).width <= room:
                break
        else:
            text.set_visible(False)
