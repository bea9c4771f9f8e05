"""Where the workbench keeps what it generates: the cache root and the folders under it; and what is installed.

One place for the locations, so that the log router (base), the checkpoint code (model), the prediction
cache (engine) and the demo set (data) agree without importing each other.

:func:`installed_version` reads a distribution's version once per process from its metadata header:
``importlib.metadata.version`` parses the whole METADATA file as an e-mail message (its long description
included) at every call, and a ``workbench run`` asks for ~25 versions (provenance, the ONNX export's key, the
cached precision choice): 0.06–0.12 s of its start-up (issue #28). The distribution is found as importlib finds
it; nothing is imported.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import re
import shlex
import stat
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError, printable

__all__ = ["cache_dir", "file_problem", "installed_version", "shell_command"]


def cache_dir() -> Path:
    """Where the workbench keeps generated checkpoints, logs and caches (``$WORKBENCH_CACHE``).

    Defaults to ``$XDG_CACHE_HOME/emotion-workbench`` (``~/.cache/emotion-workbench``).  A ``~`` at its start is
    the home folder (``WORKBENCH_CACHE="~/wb"``, quoted in a ``.env`` file, made a folder named ``~`` in each
    folder a command ran in).
    """
    root = os.environ.get("WORKBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "emotion-workbench"
    )
    return Path(os.path.expanduser(root))


def shell_command(*words: object) -> str:
    """A command line for the user to paste into a shell: each word ``shlex.quote``-d, so that a path with a space
    (``models/cremad head``) stays one argument.  Placeholders in capitals (``MANIFEST``) and options pass unchanged;
    ``run_dir=PATH`` is quoted whole, which the shell reads as the same single word.

    A word holding a character a terminal would act on or hide (a newline, an escape sequence, a right-to-left
    override) is written in bash's ``$'…'`` quoting with that character as an escape (``$'a\\nb'``): the line
    printed is one line that shows what it runs, and pasted it names the same file."""
    return " ".join(_quoted(str(word)) for word in words)


def _quoted(word: str) -> str:
    if word.isprintable():
        return shlex.quote(word)
    out = []
    for ch in word:
        if ch in "\\'":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:  # fixed-width escapes: bash reads at most 2, 4 and 8 hex digits after \x, \u and \U
            code = ord(ch)
            if 0xDC80 <= code <= 0xDCFF:  # a byte of a file name that is not UTF-8 (os.fsdecode's surrogateescape)
                code -= 0xDC00
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "$'" + "".join(out) + "'"


def file_problem(path: str, p: Path) -> str | None:
    """None when ``p`` is a regular file; else ``path`` as a missing-files entry, with why when it exists or cannot be looked up."""
    if _URL.match(path.strip()):  # Path folds "http://" into "http:/": it was listed as a missing file, unexplained
        return f"{path} (a URL: clips are read from local files only, nothing is downloaded)"
    try:
        if p.is_dir():
            return f"{path} (is a directory)"
        if not p.is_file():  # exists() is a stat: a FIFO or a device is never opened here
            return f"{path} (not a regular file: a pipe, socket or device)" if p.exists() else path
    except OSError as exc:  # pathlib lets ENAMETOOLONG (a 5,000-character path), EACCES … through: one row, not the run
        shown = path if len(path) <= 120 else f"{path[:60]}…{path[-40:]}"
        return f"{shown} ({exc.strerror or type(exc).__name__}: a path of {len(path):,} characters)"
    return None


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def refuse_url(path: Any, what: str, *, source: str | None = None) -> None:
    """Refuse a URL given where a local file is read: nothing is fetched, and ``Path`` would fold ``https://`` into
    ``https:/``, so the message said "file not found" of a path the user never wrote."""
    if isinstance(path, str) and _URL.match(path.strip()):
        url = printable(path.strip())
        raise ConfigError((f"{what} {url} is a URL" if source else "is a URL") + f"; {what} is read from a local file only "
                          "(nothing is downloaded).", source=source or url, fix="download it yourself and give its path.")


def published_path(path: str | os.PathLike) -> str:
    """``path`` as a page or file meant for others shows it: absolute, with the home folder (which names its user)
    written ``~`` (``/home/alice/proj/runs/x`` → ``~/proj/runs/x``); a path elsewhere is shown whole."""
    p = Path(os.path.abspath(Path(path).expanduser()))
    home = Path(os.path.abspath(os.path.expanduser("~")))
    if home == Path(home.anchor) or not p.is_relative_to(home):  # no home, or `/` as home: nothing to hide
        return str(p)
    rel = p.relative_to(home)
    return "~" if rel == Path(".") else f"~/{rel.as_posix()}"


def published_command(words: "list[str] | tuple[str, ...]") -> dict:
    """A typed command line as a record meant for others keeps it: ``{"argv": [...], "cwd": ...}``, each word as
    :func:`published_word` shows it, and the folder it was typed in (where its relative paths start)."""
    return {"argv": [published_word(w) for w in words], "cwd": published_path(os.getcwd())}


def published_word(word: object) -> str:
    """A word of a command line with the home folder written ``~`` where the word, or its value after ``=``, starts with
    it (``/home/alice/x`` → ``~/x``, ``run_dir=/home/alice/r`` → ``run_dir=~/r``); any other word as it is."""
    word, home = str(word), os.path.abspath(os.path.expanduser("~"))
    head, sep, tail = ("", "", word) if word.startswith(home) or "=" not in word else word.partition("=")
    if home != os.path.abspath(os.sep) and (tail == home or tail.startswith(home + os.sep)):
        tail = "~" + tail[len(home):]
    return head + sep + tail


def portable_path(path: str | os.PathLike, folder: str | os.PathLike, *, home: bool = True) -> str:
    """``path`` as a file kept in ``folder`` records it, so that it means the same once the project is copied whole or
    read on another machine: relative to ``folder`` (``../../data/manifest.csv``; it starts with ``./`` or ``../``, so a
    reader tells it from a name) when both lie in one folder that is neither the file system's root nor the home folder
    or one above it (a project); else with the home folder written ``~`` (``~/.cache/…``; ``home=False``: absolute, for
    a reader that does not expand ``~``), else absolute.  :func:`from_portable` reads it back."""
    p = Path(os.path.abspath(Path(path).expanduser()))
    base = Path(os.path.abspath(Path(folder).expanduser()))
    home_dir = Path(os.path.abspath(os.path.expanduser("~")))
    try:
        common = Path(os.path.commonpath([p, base]))
    except ValueError:  # another drive
        common = None
    if common is not None and common != Path(common.anchor) and not home_dir.is_relative_to(common):
        rel = Path(os.path.relpath(p, base)).as_posix()
        return rel if rel == ".." or rel.startswith("../") else "." if rel == "." else f"./{rel}"
    return published_path(p) if home else str(p)


def from_portable(text: str, folder: str | os.PathLike) -> str:
    """A path :func:`portable_path` wrote into a file in ``folder``, absolute again (``~`` is this machine's home); any
    other text (a name, an absolute path) as it is."""
    if text == "~" or text.startswith("~/"):
        return os.path.expanduser(text)
    if text in (".", "..") or text.startswith(("./", "../")):
        return os.path.normpath(Path(folder).resolve() / text)
    return text


#: the bytes of a METADATA file read for its headers (they come first; a long description follows the blank line)
METADATA_HEAD_BYTES = 1 << 16
#: a METADATA file without a Version header in its head is given to importlib's full parser only up to this size
METADATA_PARSED_MAX = 16 << 20


@functools.lru_cache(maxsize=None)
def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name`` (as ``importlib.metadata.version`` gives it), or ``None``: not
    installed, or metadata that cannot be read as a file's (a pipe would block the run, a link to a device never end,
    bytes that are not UTF-8 made importlib raise): provenance then says the version is unknown."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    except Exception:  # noqa: BLE001 — a damaged distribution on sys.path: as not installed
        return None
    head = _metadata_head(dist)
    if head is None:
        return None
    text, size = head
    for line in text.splitlines():
        if not line.strip():  # the headers end at the first blank line
            break
        if line[:8].lower() == "version:":
            return line[8:].strip()
    if size > METADATA_PARSED_MAX:
        return None
    try:
        return dist.version  # no Version header where expected: the full parser decides
    except Exception:  # noqa: BLE001 — a damaged metadata file: as not installed
        return None


def _metadata_head(dist: Any) -> tuple[str, int] | None:
    """The first :data:`METADATA_HEAD_BYTES` of ``dist``'s METADATA (else PKG-INFO) as text, and the file's size;
    ``("", 0)`` when it has neither; ``None`` when one is there but is no regular file or cannot be read."""
    try:
        folder = os.fspath(dist._path)
    except (AttributeError, TypeError):  # not a folder on disk (a zip): importlib reads it
        try:
            text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
        except Exception:  # noqa: BLE001
            return None
        return text, len(text)
    for file in ("METADATA", "PKG-INFO"):
        try:  # O_NONBLOCK: opening a pipe does not wait for a writer; it is refused below, unread
            fd = os.open(os.path.join(folder, file), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            data = os.read(fd, METADATA_HEAD_BYTES)
        except OSError:
            return None
        finally:
            os.close(fd)
        return data.decode("utf-8", "replace"), st.st_size
    return "", 0
