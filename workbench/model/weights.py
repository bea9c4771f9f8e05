"""Checkpoint weights: which file holds them, reading them safely, checking they fit, and their checksum.

:func:`load_weights` reads a checkpoint's state dict with ``torch.load(weights_only=True)`` (or from
``model.safetensors`` where the checkpoint has one): a ``model.pt`` whose pickle holds anything beyond
tensors is refused with a :class:`~workbench.errors.ModelError`, whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
says.  :func:`check_weights_fit` refuses weights that do not fit the network.  :func:`file_sha256` hashes a
weights file once and remembers the digest by (path, inode, size, mtime, ctime) in a small JSON memo under
:func:`~workbench.paths.cache_dir`.
"""

from __future__ import annotations

import json
import logging
import os
import stat as _stat
import pickle
import threading
from pathlib import Path
from typing import Any

from workbench import files
from workbench.errors import ModelError
from workbench.paths import cache_dir

logger = logging.getLogger(__name__)

#: weights files a checkpoint directory may hold, preferred first
WEIGHTS_FILES = ("model.safetensors", "model.pt")


def weights_file(model_dir: str | os.PathLike) -> Path | None:
    """The weights file of a checkpoint directory (``model.safetensors`` first, then ``model.pt``), or ``None``."""
    for name in WEIGHTS_FILES:
        if (Path(model_dir) / name).is_file():
            return Path(model_dir) / name
    return None


_UNWRAP_KEYS = ("state_dict", "model_state_dict", "model")
#: keys of the network a fine-tuned checkpoint need not carry (EMA teacher, pre-training decoder)
OPTIONAL_PREFIXES = ("ema.", "modality_encoders.AUDIO.decoder.")


def load_weights(path: str | os.PathLike, *, mmap: bool = False) -> tuple[dict, Path]:
    """Read a checkpoint's state dict safely.

    ``model.safetensors`` beside ``path`` is preferred; a ``model.pt`` is read
    with ``torch.load(weights_only=True)`` (explicitly, so that
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot re-open it).  ``{"model": ...}``, ``{"state_dict": ...}``
    wrappers and ``module.`` prefixes are removed.

    The tensors are read into memory: a network loaded from a file mapped into memory (``mmap``) keeps reading
    the file's pages, so a ``model.pt`` rewritten in place after the load (``torch.save`` over it, a training
    script saving its best epoch, a copy over a download) changed the loaded network's weights under it, with
    no error: a tiny checkpoint's scores turned to NaN, recorded under the checksum of the weights it had
    loaded, and a file cut shorter would have killed the process (SIGBUS).  Reading costs ~0.3 s more for the
    large architecture (1.2 GB, from the page cache); ``mmap=True`` keeps the mapping for a caller that holds
    the state dict only briefly (a tool that copies what it needs).  ``model.safetensors`` is always read
    into memory.

    Returns ``(state_dict, file_read)``.  Raises :class:`ModelError` for a
    pickle that holds more than tensors, or a file that is not a checkpoint.
    """
    import torch

    path = Path(path)
    st = path if path.suffix == ".safetensors" else path.with_name("model.safetensors")
    if st.is_file():
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(st), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(f"cannot read the safetensors weights ({exc}).", source=str(st), fix="download the checkpoint again.") from None
        source = st
    else:
        source = path
        try:
            try:
                state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)
            except RuntimeError as exc:
                if not mmap or "mmap" not in str(exc):
                    raise
                state = torch.load(str(path), map_location="cpu", weights_only=True)  # legacy (non-zip) format
        except pickle.UnpicklingError as exc:
            if "weights only load failed" not in str(exc).lower():
                raise ModelError(f"cannot read the weights file ({short_error(exc)}).", source=str(path), fix="download the checkpoint again.") from None
            raise ModelError(
                "the weights file contains pickled objects beyond tensors; the workbench does not unpickle them "
                f"(unpickling can run arbitrary code). {_first_unsafe(exc)}",
                source=str(path),
                fix="load it once in a trusted environment and save only its tensors "
                "(torch.save({'model': state_dict}, 'model.pt')), or convert it to model.safetensors.",
            ) from None
        except (RuntimeError, OSError, EOFError, ValueError) as exc:
            raise ModelError(f"cannot read the weights file ({short_error(exc)}).", source=str(path), fix="download the checkpoint again.") from None
    for key in _UNWRAP_KEYS:
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(
            "the weights file holds no state dict of tensors.",
            source=str(source),
            fix="point --model at an emotion2vec checkpoint (model.pt as FunASR saves it).",
        )
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    return state, source


def _first_unsafe(exc: BaseException) -> str:
    """The line of torch's message that names what the pickle wanted to run, if any."""
    for line in str(exc).splitlines():
        if "unsupported global" in line.lower() or "unsupported operand" in line.lower():
            return line.strip().rstrip(".")[:200] + "."
    return ""


def check_weights_fit(network_state: dict, state: dict, name: str) -> None:
    """Refuse weights that do not fit the network (FunASR would silently keep random values)."""
    needed = [k for k in network_state if not k.startswith(OPTIONAL_PREFIXES)]
    missing = [k for k in needed if k not in state]
    mismatched = [k for k in needed if k in state and tuple(state[k].shape) != tuple(network_state[k].shape)]
    if not missing and mismatched and {k.split(".")[0] for k in mismatched} == {"proj"}:  # the head's rows come from tokens.txt
        rows = [int(x["proj.weight"].shape[0]) if "proj.weight" in x else "?" for x in (network_state, state)]
        raise ModelError(f"tokens.txt names {rows[0]} outputs and the weights' classification head has {rows[1]}, so its outputs "
                         "cannot be named.", source=name,
                         fix="use the tokens.txt that came with these weights (one line per output, <unk> included).")
    if missing or mismatched:
        raise ModelError(
            f"weights do not fit the network in config.yaml: {len(missing)} missing, {len(mismatched)} of another shape "
            f"(e.g. {(missing + mismatched)[0]}). FunASR would silently keep random values for them.",
            source=name,
            fix="use the config.yaml that came with this model.pt.",
        )
    # the classification head (small: checked on every load; a NaN in the encoder shows as NaN scores, refused per clip)
    bad = [k for k in needed if k.startswith("proj.") and state[k].is_floating_point() and not bool(state[k].isfinite().all())]
    if bad:
        raise ModelError(f"the classification head's weights hold NaN or infinite values ({', '.join(bad)}): every score would be NaN.",
                         source=name, fix="use the weights as they were written (fine-tune the head again, or download the checkpoint again).")


MEMO_LOCK = threading.Lock()


def checksum_memo_path() -> Path:
    """The JSON file that remembers weights checksums by (path, inode, size, mtime, ctime)."""
    return cache_dir() / "checksums.json"


def folder_stamp(folder: str | os.PathLike, *, required: bool = False) -> tuple:
    """What a loaded checkpoint folder's files are now: ``(name, inode, device, size, mtime_ns, ctime_ns)`` of each
    regular file at its top level (links followed; hidden files, a tool's locks and memos, left out), by name; ``()``
    when it cannot be listed (``required``: a :class:`ModelError` naming the folder instead: a folder moved or deleted
    after its load was taken for a hub id, retried over the network, and refused as 'FunASR could not load').  The key
    :func:`file_sha256` trusts, for every file, without reading one: a stat each (microseconds), so the process's
    model cache can ask on every load whether the folder changed under it."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        if required:
            raise ModelError(f"the checkpoint folder cannot be listed ({exc.strerror or type(exc).__name__}): moved or "
                             "deleted since it was resolved?", source=str(folder),
                             fix="restore the folder, or give --model (load_model) a checkpoint folder that is there.") from None
        return ()
    out = []
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            st = e.stat()
        except OSError:
            continue
        if _stat.S_ISREG(st.st_mode):
            out.append((e.name, st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


#: the largest ONNX graph file a workbench export can be: protobuf's 2 GiB (a larger model needs external data, which
#: the export never writes); a graph file above it is no export, and is refused by its size before it is hashed or parsed
GRAPH_MAX_BYTES = 2**31


def file_sha256(path: str | os.PathLike, *, remember: bool = True, max_bytes: int | None = None) -> str:
    """sha256 of a file, hashed once: the digest is remembered by (path, inode, size, mtime_ns, ctime_ns).

    Why this is enough to re-verify only when the key changes: any write to the file or replacement of it
    changes its inode (a rename onto it), its size, or its ctime — and the ctime cannot be set back by a
    user (``touch``/``os.utime`` restore mtime, and set ctime to *now*).  Bytes changed in place with the
    same size and mtime restored therefore still get a new ctime and are hashed again; only someone who
    can change the system clock or write the block device could keep the key, and such a user owns the
    machine.  (Trusting size and mtime alone, as before, let an edited ``model.pt`` keep its old checksum.)
    A memo that cannot be read or written is ignored (the file is hashed).  ``max_bytes``: a larger file raises
    :class:`OSError` unread (a 10 GB sparse model.onnx in the export cache was hashed for minutes at every load).
    """
    p = Path(path).resolve()
    stat = p.stat()
    if max_bytes is not None and stat.st_size > max_bytes:
        raise OSError(f"holds {stat.st_size:,} bytes, over the cap of {max_bytes:,}")  # no EFBIG: not `ulimit -f`
    stamp = {"inode": stat.st_ino, "device": stat.st_dev, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns}
    memo_path = checksum_memo_path()
    if remember:
        with MEMO_LOCK:
            entry = read_memo(memo_path).get(str(p))
        if isinstance(entry, dict) and all(entry.get(k) == v for k, v in stamp.items()):
            digest = entry.get("sha256")
            if isinstance(digest, str) and len(digest) == 64:
                return digest
    digest = files.sha256_file(p)
    if remember:
        with MEMO_LOCK:
            # files gone since (a temporary export folder renamed, a checkpoint deleted) are forgotten as it is written
            memo = {k: v for k, v in read_memo(memo_path).items() if os.path.exists(k)}
            memo[str(p)] = {**stamp, "sha256": digest}
            try:
                files.write_json(memo_path, memo, indent=1, root=cache_dir())
            except (OSError, files.UnsafePathError) as exc:
                logger.debug("cannot write the checksum memo %s: %s", memo_path, exc)
    return digest


#: the checksum memo holds a line per weights file or graph (it forgets those gone): a few kB
MEMO_MAX_BYTES = 8_000_000


def read_memo(memo_path: Path) -> dict:
    """The checksum memo, or ``{}`` when it cannot be trusted to be one: a link (the cache is shared; a link to
    /dev/zero read until memory ran out), a FIFO or device (opening one waited for ever), a file over
    :data:`MEMO_MAX_BYTES`, or anything but a JSON object."""
    try:
        fd = os.open(memo_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return {}
    try:
        with os.fdopen(fd, "rb") as f:
            if not _stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return {}
            raw = f.read(MEMO_MAX_BYTES + 1)
        if len(raw) > MEMO_MAX_BYTES:
            logger.warning("the memo %s is over %d bytes: it is ignored (and written again)", memo_path, MEMO_MAX_BYTES)
            return {}
        memo = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested deeper than the parser goes
        return {}
    return memo if isinstance(memo, dict) else {}


def short_error(exc: BaseException) -> str:
    """The last line of an exception's message (at most 300 characters), for an error that names the input already."""
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]


#: the small files of a checkpoint folder that change its network's output beside the weights: the network's shape
#: (config.yaml: num_heads 2 → 4 keeps every weight's shape), the class order (tokens.txt) and a fine-tuned head's card
IDENTITY_FILES = ("config.yaml", "tokens.txt", "training_card.json")
#: a version of what :func:`checkpoint_identity` covers: a change to it keys every cache anew (never an old entry served)
IDENTITY_REVISION = "identity/1"
#: the most bytes read of one identity file (each is checked for size where it is read: a config is a few kB)
IDENTITY_FILE_MAX_BYTES = 16 * 2**20


def identity_files(model_dir: str | os.PathLike | None) -> dict[str, str]:
    """The sha256 of each of :data:`IDENTITY_FILES` in ``model_dir`` (``"absent"`` where it has none, or holds a pipe or
    device there): what :func:`checkpoint_identity` is made of, recorded beside it (``model.identity_files``) so that a
    later mismatch names the file that differs, for a hub id as for a folder.  Never blocks (a FIFO put there hung the load)."""
    import hashlib

    out = {}
    for name in IDENTITY_FILES:
        p = Path(model_dir) / name if model_dir is not None else None
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)  # type: ignore[arg-type]
            with open(fd, "rb") as f:
                if not _stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise OSError("not a regular file")
                data = f.read(IDENTITY_FILE_MAX_BYTES + 1)
            out[name] = hashlib.sha256(data).hexdigest()
        except (OSError, TypeError):
            out[name] = "absent"
    return out


def checkpoint_identity(model_dir: str | os.PathLike | None, weights_sha256: str | None,
                        files_sha256: dict[str, str] | None = None) -> str | None:
    """What the caches of a checkpoint's outputs are keyed by (predictions, the ONNX export, the ``--dtype auto``
    record): sha256 over :data:`IDENTITY_REVISION`, the weights' sha256 (memoised by :func:`file_sha256`, not read
    again) and the bytes of each of :data:`IDENTITY_FILES` (small: read on every load; absent ones count as absent;
    ``files_sha256``: their :func:`identity_files`, already read).

    Keyed by the weights' checksum alone, a config.yaml edited afterwards (num_heads 2 → 4) or a tokens.txt reordered
    kept serving the old network's cached predictions, graph and precision choice.  ``None`` without weights' sha256."""
    import hashlib

    if not weights_sha256:
        return None
    digests = files_sha256 if files_sha256 is not None else identity_files(model_dir)
    parts = [IDENTITY_REVISION, weights_sha256] + [f"{name}:{digests.get(name, 'absent')}" for name in IDENTITY_FILES]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _digest(value: Any) -> str | None:
    """A recorded sha256 (or ``"absent"``) as read from someone's summary.json, else ``None`` (not to be compared)."""
    if value == "absent" or files.is_sha256(value):
        return value
    return None


def identity_mismatch(recorded: Any, now: Any, words: tuple[str, str] = ("now", "recorded")) -> str | None:
    """How the model ``now`` (a model info's dict: ``checksum``, ``identity``, ``identity_files``) differs from the one
    ``recorded`` (a run's summary.json ``model`` block, or a cache's record of it), naming each file that differs; ``None``
    when it is the same model or nothing can be compared (a record of before identities, an ONNX graph without one).

    A record of before ``identity_files`` (a run of an older workbench) can only say that one of the files differs.
    ``words``: what ``now`` and ``recorded`` are called in the sentence."""
    new, old = words
    recorded = recorded if isinstance(recorded, dict) else {}
    now = now if isinstance(now, dict) else {}
    want, got = _digest(recorded.get("checksum")), _digest(now.get("checksum"))
    if want and got and want != got:
        return f"the weights differ (sha256 {got[:12]}… {new}, {want[:12]}… {old})"
    want_id, got_id = _digest(recorded.get("identity")), _digest(now.get("identity"))
    if not (want_id and got_id) or want_id == got_id:
        return None
    ours = recorded.get("identity_files") if isinstance(recorded.get("identity_files"), dict) else {}
    theirs = now.get("identity_files") if isinstance(now.get("identity_files"), dict) else {}
    short = lambda d: "absent" if d == "absent" else f"sha256 {d[:12]}…"  # noqa: E731
    differ = [(n, _digest(theirs.get(n)), _digest(ours.get(n))) for n in IDENTITY_FILES]
    differ = [(n, a, b) for n, a, b in differ if a and b and a != b]
    if differ:
        return "the same weights but " + ", ".join(f"{n} differs ({short(a)} {new}, {short(b)} {old})" for n, a, b in differ)
    return (f"the same weights but one of {', '.join(IDENTITY_FILES)} differs (identity {got_id[:12]}… {new}, {want_id[:12]}… "
            f"{old}; the record holds no sha256 per file, which runs of this version keep in summary.json's model.identity_files)")
