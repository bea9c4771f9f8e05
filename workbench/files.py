"""The one safe, atomic way the workbench writes a file: never through a link, never half-written.

Every writer of the package (run folders, ONNX exports, the prediction cache, the model cache and its
checksum memo, reports, explain and ``infer`` outputs) goes through :func:`write_atomic` or one of
its helpers (:func:`write_bytes`, :func:`write_text`, :func:`write_json`, :func:`write_npy`,
:func:`write_npz`, :func:`write_figure`, :func:`copy_file`, :func:`append_text`), so the rules below
hold everywhere and are tested once:

* **The folder is opened without following links.**  A writer names an *anchor* (``root``: the run
  folder, the export folder, the cache root) that the user chose; every folder below it is opened
  ``O_DIRECTORY | O_NOFOLLOW`` relative to its parent's descriptor (``dir_fd``), and created there
  when missing.  A folder at any level that is a symbolic link is refused naming it: a shared cache
  whose shard folder ``ab/`` points elsewhere never receives a file.  Without ``root``, the file's own
  folder is the anchor.
* **The file is created exclusively under a temporary name** (``.NAME.tmp-PID-RANDOM``,
  ``O_CREAT | O_EXCL | O_NOFOLLOW``) in that folder's descriptor, so a link planted at any temporary
  name is never written through; then flushed, ``fsync``-ed and renamed (``os.rename`` with
  ``src_dir_fd``/``dst_dir_fd``) onto its name, and the folder is ``fsync``-ed.
* **A destination that is a link is refused** (a planted ``model.onnx -> ~/.bashrc`` is reported, not
  replaced silently, so a user learns someone planted it); a destination that is a folder too.
* On any failure the temporary file is removed and the destination is untouched.

JSON is written by one sanitiser (:func:`strict_json`): NaN and ±inf become ``null``, numpy values
plain numbers, never a bare ``NaN`` that other readers reject.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from workbench import interrupts
from workbench.errors import ConfigError

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_NOFOLLOW | _CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC


class UnsafePathError(ConfigError):
    """A write that would go through a symbolic link (or onto a folder): refused, nothing written."""

    code = "unsafe_path"


def _link_error(where: Path, what: str) -> UnsafePathError:
    return UnsafePathError(
        f"{what} is a symbolic link; the workbench never makes links there, and writing through it would change "
        "files outside the folder.",
        source=str(where),
        fix="delete the link (or choose another folder) and run the same command again.",
    )


@contextlib.contextmanager
def open_folder(folder: str | os.PathLike, *, root: str | os.PathLike | None = None, create: bool = True) -> Iterator[int]:
    """A descriptor of ``folder``, every level below ``root`` opened ``O_NOFOLLOW`` (created when ``create``).

    ``root`` (default: ``folder`` itself) is the anchor the caller chose and is opened as given; each
    component of ``folder`` below it must be a real folder.  Raises :class:`UnsafePathError` naming the
    first level that is a link, ``NotADirectoryError`` for a level that is a file.
    """
    folder = Path(folder)
    anchor = Path(root) if root is not None else folder
    try:
        rel = folder.relative_to(anchor)
    except ValueError:
        raise UnsafePathError(f"is not inside {anchor}.", source=str(folder),
                              fix="write inside the folder the command was given.") from None
    if create:
        anchor.mkdir(parents=True, exist_ok=True)
    fd = os.open(anchor, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
    try:
        here = anchor
        for part in rel.parts:
            if part in ("..", "."):
                raise UnsafePathError(f"holds {part!r}.", source=str(folder), fix="write inside the folder the command was given.")
            here = here / part
            try:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                nfd = _open_sub(part, fd, here)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    nfd = _open_sub(part, fd, here)  # says which
                else:
                    raise
            os.close(fd)
            fd = nfd
        yield fd
    finally:
        os.close(fd)


def _open_sub(part: str, fd: int, here: Path) -> int:
    try:
        return os.open(part, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        st = os.stat(part, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            raise _link_error(here, f"the folder {part!r}") from None
        raise UnsafePathError(f"{part!r} is a file where a folder goes.", source=str(here),
                              fix="remove or rename that file; the workbench makes the folder itself.") from None


def ensure_folder(folder: str | os.PathLike, *, root: str | os.PathLike | None = None) -> Path:
    """Create ``folder`` (and the levels below ``root``) refusing a link at any level; returns it."""
    with open_folder(folder, root=root, create=True):
        pass
    return Path(folder)


def is_link(path: str | os.PathLike) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, text: bool = False, root: str | os.PathLike | None = None,
                mode: int = 0o644) -> Iterator[Any]:
    """An open file object for ``path`` that becomes ``path`` when the block ends without an error.

    The same rules as :func:`write_atomic` (which uses it); for writers that stream (a CSV written row by row).
    On an error the temporary is removed and ``path`` is untouched.
    """
    path = Path(path)
    name = path.name
    with open_folder(path.parent, root=root if root is not None else path.parent) as dfd:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise _link_error(path, repr(name))
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise UnsafePathError(f"{name!r} is a folder where a file goes.", source=str(path.parent),
                                  fix=f"remove or rename the folder {name!r}; the workbench never makes it.")
        sweep_stale_temporaries(dfd, path.parent)
        tmp = temporary_name(name)
        try:
            fd = os.open(tmp, _CREATE_FLAGS, mode, dir_fd=dfd)
        except OSError as exc:  # named by the temporary alone ('.m.csv.tmp-…'), the error said nowhere where
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        try:
            # text: a name that is not UTF-8 arrives with surrogates and is written as escapes, never an error
            with (os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="") if text else os.fdopen(fd, "wb")) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            interrupts.gate(f"write:{name}")
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise
        with contextlib.suppress(OSError):
            os.fsync(dfd)


#: a temporary's name: ``.NAME.tmp-PID[-RANDOM]`` (the writing process's id, so a dead writer's can be told)
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)(-[A-Za-z0-9_]{1,16})?$")
_swept: set = set()  # (device, inode) of the folders this process has swept
#: a temporary untouched for this long whose process is gone is a dead writer's; a younger one is left alone, since on a
#: folder shared between machines (a cache on NFS under Ray) the process id may be another machine's live writer
STALE_AFTER_S = 60.0


def temporary_name(name: str) -> str:
    return f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def live_temporary(name: str) -> bool:
    """Whether ``name`` is the temporary of another process that is still running (it may be renamed any moment)."""
    m = _TEMP_RE.match(name)
    return m is not None and int(m["pid"]) != os.getpid() and _alive(int(m["pid"]))


def sweep_stale_temporaries(dfd: int, folder: Path) -> list[str]:
    """Remove the temporaries (files, and folders of :func:`atomic_folder`) that a killed writer left in the folder
    open at ``dfd``: names ``.NAME.tmp-PID-RANDOM`` whose process is gone, untouched for :data:`STALE_AFTER_S`.  A ``kill -9`` (or a power cut) between
    creating a temporary and renaming it left it there for good; a live writer's are kept.  Once per folder and
    process (a run writes thousands of parts into one folder).  Returns the names removed."""
    try:
        st = os.fstat(dfd)
    except OSError:
        return []
    if (st.st_dev, st.st_ino) in _swept:
        return []
    _swept.add((st.st_dev, st.st_ino))
    removed = []
    for entry in os.listdir(dfd):
        m = _TEMP_RE.match(entry)
        if m is None or int(m["pid"]) == os.getpid() or _alive(int(m["pid"])):
            continue
        try:
            est = os.stat(entry, dir_fd=dfd, follow_symlinks=False)
            if time.time() - est.st_mtime < STALE_AFTER_S:
                continue
            if stat.S_ISDIR(est.st_mode):
                shutil.rmtree(folder / entry)  # fd-based on Linux: never follows a link inside
            else:
                os.unlink(entry, dir_fd=dfd)
            removed.append(entry)
        except OSError:
            continue
    return removed


def sweep_folder(folder: str | os.PathLike) -> list[str]:
    """:func:`sweep_stale_temporaries` for a folder a command fills with folders of its own (``infer``'s outputs)."""
    try:
        with open_folder(folder, create=False) as dfd:
            return sweep_stale_temporaries(dfd, Path(folder))
    except (OSError, UnsafePathError):
        return []


def write_atomic(path: str | os.PathLike, write: Callable[[Any], None], *, text: bool = False,
                 root: str | os.PathLike | None = None, mode: int = 0o644) -> Path:
    """Write ``path`` through ``write(fileobj)`` (text when ``text``) atomically, never through a link.

    Parameters
    ----------
    path : path
        The destination; its folder and every level of it below ``root`` are opened without following links.
    write : callable
        ``write(f)`` writes the content to an open file object.
    root : path, optional
        The anchor the caller chose (default: ``path``'s folder).
    mode : int
        Permission bits of the new file (the umask applies), e.g. ``0o600`` for a token.

    Returns
    -------
    Path
        ``path``.  Raises :class:`UnsafePathError` for a link (folder or destination); ``OSError``
        (disk full, read-only) passes through with the temporary removed.
    """
    with atomic_file(path, text=text, root=root, mode=mode) as f:
        write(f)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes, **kw: Any) -> Path:
    return write_atomic(path, lambda f: f.write(data), **kw)


def write_text(path: str | os.PathLike, text: str, **kw: Any) -> Path:
    return write_atomic(path, lambda f: f.write(text), text=True, **kw)


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 22) -> str:
    """sha256 (hex) of a file's bytes, read in ``chunk``-byte blocks; :class:`OSError` as the file gives it.

    The one hash of a file's content: sources (:func:`workbench.audio.intake.file_sha256` names the file in an
    ``AudioError``), checkpoint weights (memoised in :mod:`workbench.model.checkpoints`) and ONNX exports.
    """
    h = hashlib.sha256()
    # opened without waiting (a named pipe swapped in for a checked file opens at once) and refused unless regular:
    # `open` of a FIFO put there after the caller's is_file() waited for a writer for ever
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a named pipe, a device or a socket): not read", str(path))
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def is_sha256(value: Any) -> bool:
    """Whether ``value`` is a sha256 as :func:`sha256_file` writes it (64 lower-case hex digits): what a record read from
    someone else's file must hold before it is compared or used in a key."""
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


def json_default(o: Any):
    """``json.dumps(default=…)`` for numpy scalars, tuples and sets; anything else as its string."""
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, (tuple, set)):
        return list(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


#: a character JSON text may hold raw that is not printable ASCII (the structure's own are spaces and line ends)
_NOT_PLAIN = re.compile(r"[^\n\x20-\x7e]")


def _json_escape(match: re.Match) -> str:
    """A character a screen would act on or hide (C1 controls, text-direction overrides, line separators, unpaired
    surrogates) as its JSON ``\\u`` escape; any other character as it is."""
    c = match.group()
    if c.isprintable():
        return c
    n = ord(c)
    if n > 0xFFFF:  # a JSON escape is UTF-16: a surrogate pair
        n -= 0x10000
        return f"\\u{0xD800 + (n >> 10):04x}\\u{0xDC00 + (n & 0x3FF):04x}"
    return f"\\u{n:04x}"


def strict_json(payload: Any, *, indent: int | None = 2) -> str:
    """``payload`` as strict JSON: NaN and ±inf become ``null``, numpy values plain numbers (never bare ``NaN``), and
    every character that is not printable as its ``\\u`` escape (JSON escapes only U+0000-U+001F itself: a C1 control
    such as U+009B, a terminal's one-byte CSI, or a right-to-left override reached the screen raw, and the CLI's
    terminal guard then wrote it as a Python escape, which is not JSON)."""
    text = json.dumps(json_safe(payload), indent=indent, ensure_ascii=False, allow_nan=False, default=json_default)
    return _NOT_PLAIN.sub(_json_escape, text)


def json_safe(o: Any) -> Any:
    """``o`` with NaN/±inf as ``None``, arrays as lists, numpy scalars as Python numbers, keys as strings."""
    if isinstance(o, dict):
        return {str(k): json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set)):
        return [json_safe(v) for v in o]
    if isinstance(o, np.ndarray):
        return json_safe(o.tolist())
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, (np.integer, np.bool_)):
        return o.item()
    return o


def write_json(path: str | os.PathLike, payload: Any, *, indent: int | None = 2, **kw: Any) -> Path:
    """``payload`` as strict JSON (:func:`strict_json`), atomically."""
    return write_text(path, strict_json(payload, indent=indent) + "\n", **kw)


def write_npy(path: str | os.PathLike, array: Any, **kw: Any) -> Path:
    arr = np.asarray(array)
    return write_atomic(path, lambda f: np.save(f, arr, allow_pickle=False), **kw)


def write_npz(path: str | os.PathLike, *, compressed: bool = False, root: str | os.PathLike | None = None, **arrays: Any) -> Path:
    save = np.savez_compressed if compressed else np.savez
    return write_atomic(path, lambda f: save(f, **arrays), root=root)


def write_figure(path: str | os.PathLike, fig: Any, *, dpi: int = 110, format: str = "png", close: bool = True, **kw: Any) -> Path:
    """Save a matplotlib figure (PNG by default) atomically; closes it when ``close``."""
    try:
        return write_atomic(path, lambda f: fig.savefig(f, format=format, dpi=dpi), **kw)
    finally:
        if close:
            import matplotlib.pyplot as plt

            plt.close(fig)


def copy_file(src: str | os.PathLike, dst: str | os.PathLike, **kw: Any) -> Path:
    """Copy ``src`` (a file the workbench made in a private folder) onto ``dst`` atomically, streaming."""
    with open(src, "rb") as f_in:
        return write_atomic(dst, lambda f: shutil.copyfileobj(f_in, f, 1 << 22), **kw)


def move_file(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Rename ``src`` (a whole file the workbench made in a folder of its own on the same file system) onto ``dst``,
    both folders opened without following links; a destination that is a link or a folder is refused."""
    src, dst = Path(src), Path(dst)
    with open_folder(src.parent, create=False) as sfd, open_folder(dst.parent, create=False) as dfd:
        try:
            st = os.stat(dst.name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise _link_error(dst, repr(dst.name))
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise UnsafePathError(f"{dst.name!r} is a folder where a file goes.", source=str(dst.parent),
                                  fix=f"remove or rename the folder {dst.name!r}; the workbench never makes it.")
        interrupts.gate(f"move:{dst.name}")
        os.rename(src.name, dst.name, src_dir_fd=sfd, dst_dir_fd=dfd)
        with contextlib.suppress(OSError):
            os.fsync(dfd)
    return dst


def remove_file(path: str | os.PathLike) -> bool:
    """Remove the file ``path`` (its folder opened without following links); a link there is removed itself, never
    what it points to.  Whether there was one; a folder of that name is refused."""
    path = Path(path)
    try:
        with open_folder(path.parent, create=False) as dfd:
            try:
                st = os.stat(path.name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                return False
            if stat.S_ISDIR(st.st_mode):
                raise UnsafePathError(f"{path.name!r} is a folder where a file goes.", source=str(path.parent),
                                      fix=f"remove or rename the folder {path.name!r}; the workbench never makes it.")
            os.unlink(path.name, dir_fd=dfd)
            with contextlib.suppress(OSError):
                os.fsync(dfd)
            return True
    except FileNotFoundError:  # no folder: no file
        return False


def append_text(path: str | os.PathLike, text: str, *, root: str | os.PathLike | None = None, mode: int = 0o644) -> None:
    """Append ``text`` to ``path`` (a log), created when missing, never through a link."""
    path = Path(path)
    with open_folder(path.parent, root=root if root is not None else path.parent) as dfd:
        try:
            fd = os.open(path.name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | _CLOEXEC, mode, dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _link_error(path, repr(path.name)) from None
            raise
        try:
            os.write(fd, text.encode("utf-8", "backslashreplace"))
        finally:
            os.close(fd)


def open_append(path: str | os.PathLike, *, encoding: str | None = "utf-8", errors: str | None = None, mode: int = 0o644):
    """A text file object appending to ``path`` (created when missing), opened without following a link at its name
    (``O_NOFOLLOW``: a planted ``workbench.log`` → ``~/.bashrc`` is an ``OSError``, ELOOP, not a write into it); for a
    handler that keeps the file open, where :func:`append_text` opens it per line.  A named pipe no process reads is
    ``OSError`` ENXIO at once (``O_NONBLOCK``; without it the open waited for a reader for ever: ``WORKBENCH_LOG`` set
    to a FIFO hung every command before its first line); one that a process reads is written as a file is."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(os.fspath(path), flags, mode)
    try:
        os.set_blocking(fd, True)  # the writes wait as a file's do (a pipe's reader that lags is no lost line)
        return open(fd, "a", encoding=encoding, errors=errors)
    except BaseException:
        os.close(fd)
        raise


def rename_folder(src: str | os.PathLike, dst: str | os.PathLike, *, replace: bool = False) -> Path:
    """Rename a folder the workbench filled (``src``) onto ``dst`` in the same parent, never onto a link.

    Without ``replace`` an existing ``dst`` is an error (``FileExistsError``), so two writers never share it.
    """
    src, dst = Path(src), Path(dst)
    if src.parent != dst.parent:
        raise ValueError("rename_folder renames within one folder")
    with open_folder(src.parent, create=False) as dfd:
        try:
            st = os.stat(dst.name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None:
            if stat.S_ISLNK(st.st_mode):
                raise _link_error(dst, repr(dst.name))
            if not replace:
                raise FileExistsError(errno.EEXIST, "exists", str(dst))
        if st is None and not replace:
            # link(2)-style exclusivity: mkdir the name first would race; renameat2(NOREPLACE) is not in os
            os.mkdir(dst.name, 0o755, dir_fd=dfd)  # claims the name (fails if another writer took it)
            try:
                os.rename(src.name, dst.name, src_dir_fd=dfd, dst_dir_fd=dfd)  # an empty folder is replaced
            except BaseException:
                with contextlib.suppress(OSError):
                    os.rmdir(dst.name, dir_fd=dfd)
                raise
        else:
            os.rename(src.name, dst.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        with contextlib.suppress(OSError):
            os.fsync(dfd)
    return dst


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive ``flock`` on ``folder`` itself (created when missing; no file is added) while a command fills
    it with several files that belong together (an ONNX export: model.onnx, model.json and its check); a second
    command on the folder gets :class:`ConfigError` at once, instead of the two mixing their files."""
    import fcntl

    folder = ensure_folder(folder)
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError("is being written by another command right now; two at once would mix their files.",
                              source=str(folder), fix="wait for that command to finish, or choose another --out.") from None
        yield folder
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_folder(final: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """A new folder (``.NAME.tmp-PID-RANDOM`` beside ``final``) to fill; it becomes ``final`` when the block ends
    without an error, else it is removed.  ``final`` must not exist or be an empty folder: a folder of several files
    (a checkpoint: config, tokens, weights, card) is never seen half-written, nor mixed from two writers; the second
    of two writers gets :class:`ConfigError` naming the folder, and its files are removed.  With ``replace`` (the
    caller checked that ``final`` holds only what it wrote before) a full ``final`` is moved aside and removed."""
    final = Path(final)
    parent = final.parent
    with open_folder(parent, create=True) as dfd:
        sweep_stale_temporaries(dfd, parent)
        tmp = parent / temporary_name(final.name)
        try:
            os.mkdir(tmp.name, 0o755, dir_fd=dfd)
        except OSError as exc:  # named by the temporary alone, as atomic_file's was
            raise OSError(exc.errno, exc.strerror, str(final)) from None
    try:
        yield tmp
        if replace and final.is_dir() and not final.is_symlink() and any(final.iterdir()):
            old = parent / temporary_name(final.name)  # swept as a dead writer's if this process dies here
            rename_folder(final, old, replace=True)
            shutil.rmtree(old, ignore_errors=True)
        try:
            rename_folder(tmp, final, replace=True)  # onto an empty folder or none; a folder with files: ENOTEMPTY
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise
            raise ConfigError("was filled by another command while this one wrote it; nothing of this one is kept.",
                              source=str(final), fix="choose a new folder, or remove that one and run the command again.") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


__all__ = ["open_append", "sha256_file", "atomic_folder", "sweep_stale_temporaries", "sweep_folder", "live_temporary", "folder_lock", "temporary_name", "UnsafePathError", "open_folder", "ensure_folder", "is_link", "atomic_file", "write_atomic", "write_bytes", "write_text",
           "strict_json", "json_safe", "write_json", "write_npy", "write_npz", "write_figure", "copy_file", "move_file", "remove_file", "append_text",
           "rename_folder"]
