"""Hub ids: the names ``--model`` knows, complete local downloads, and the offline policy.

A hub id (ModelScope or Hugging Face, with the aliases ``large``, ``base``, ``seed``) loads from a complete
local download when there is one (:func:`cached_hub_checkpoint`: no network at all); otherwise
:func:`require_hub` fails fast, with the fix, when offline mode is set or the hub cannot be reached.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from workbench.errors import ConfigError, ModelError
from workbench.model.weights import weights_file

DEFAULT_MODEL = "iic/emotion2vec_plus_large"
#: hub ids the workbench knows; any other id is passed to FunASR as it is
KNOWN_MODELS = (
    "iic/emotion2vec_plus_large",
    "iic/emotion2vec_plus_base",
    "iic/emotion2vec_plus_seed",
    "iic/emotion2vec_base_finetuned",
)
ALIASES = {
    "large": "iic/emotion2vec_plus_large",
    "plus_large": "iic/emotion2vec_plus_large",
    "base": "iic/emotion2vec_plus_base",
    "plus_base": "iic/emotion2vec_plus_base",
    "seed": "iic/emotion2vec_plus_seed",
    "plus_seed": "iic/emotion2vec_plus_seed",
    "base_finetuned": "iic/emotion2vec_base_finetuned",
}

_HUB_HOSTS = {"ms": "www.modelscope.cn", "hf": "huggingface.co"}


#: what an offline switch reads as on (as huggingface_hub reads its own: case and spaces aside) and as off
OFFLINE_ON, OFFLINE_OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def offline() -> bool:
    """True when ``WORKBENCH_OFFLINE``, ``HF_HUB_OFFLINE`` or ``MODELSCOPE_OFFLINE`` is set to 1/true/yes/on (case and
    spaces aside).  A ``WORKBENCH_OFFLINE`` that is neither on nor off (``offline``, ``y``) is refused with the values
    listed: ``on``, ``1 `` or ``offline`` read as off, and the hub was asked."""
    own = os.environ.get("WORKBENCH_OFFLINE", "").strip().lower()
    if own not in OFFLINE_ON + OFFLINE_OFF:
        raise ConfigError(f"this environment variable is {os.environ['WORKBENCH_OFFLINE'][:80]!r}, neither on nor off.", source="WORKBENCH_OFFLINE",
                          fix=f"set it to one of {', '.join(OFFLINE_ON)} (no network: only local checkpoints and caches) or "
                              f"{', '.join(v for v in OFFLINE_OFF if v)}, or unset it.")
    return own in OFFLINE_ON or any(os.environ.get(v, "").strip().lower() in OFFLINE_ON for v in ("HF_HUB_OFFLINE", "MODELSCOPE_OFFLINE"))


def cached_hub_checkpoint(model_id: str, hub: str = "ms") -> Path | None:
    """A complete local download of a hub id (ModelScope or Hugging Face cache), or ``None``."""
    candidates: list[Path] = []
    if hub == "ms":
        roots = [Path(os.environ["MODELSCOPE_CACHE"])] if os.environ.get("MODELSCOPE_CACHE") else []
        roots.append(Path.home() / ".cache" / "modelscope" / "hub")
        for root in roots:
            candidates += [root / "models" / model_id, root / model_id]
    else:
        hf_id = hf_repo(model_id)
        root = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub")
        snapshots = root / ("models--" + hf_id.replace("/", "--")) / "snapshots"
        if snapshots.is_dir():
            candidates += sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for c in candidates:
        if (c / "config.yaml").is_file() and weights_file(c) is not None:
            return c
    return None


def hf_repo(model_id: str) -> str:
    """The Hugging Face repository of a hub id: ModelScope's ``iic/emotion2vec…`` models live under ``emotion2vec/``
    there (FunASR maps them alike); any other id as given.

    >>> hf_repo("iic/emotion2vec_plus_large"), hf_repo("me/my_model")
    ('emotion2vec/emotion2vec_plus_large', 'me/my_model')
    """
    return model_id.replace("iic/", "emotion2vec/", 1) if model_id.startswith("iic/emotion2vec") else model_id


def display_name(model_id: str | None) -> str | None:
    """A model's name for figures and titles: a hub cache folder as its hub id (``iic/emotion2vec_plus_large``),
    another folder by its last two parts, anything else as given."""
    if not model_id or not os.path.isabs(str(model_id)):
        return model_id
    parts = Path(str(model_id)).parts
    for part in parts:
        if part.startswith("models--"):  # Hugging Face: models--org--name/snapshots/<revision>
            return part[len("models--"):].replace("--", "/")
    return "/".join(parts[-2:])  # ModelScope: .../models/org/name; a folder: parent/name


def require_hub(model_id: str, hub: str = "ms") -> None:
    """Fail fast, with the fix, when the hub id ``model_id`` is not cached and ``hub`` cannot be reached."""
    where = "ModelScope" if hub == "ms" else "Hugging Face"
    fix = (
        "download the checkpoint where there is network access and pass its directory to --model "
        "(config.yaml, model.pt, tokens.txt), or use --model tiny for an offline test (random weights)."
    )
    why = hub_unreachable(hub)
    if why:
        # named as that hub names it: the Hugging Face repository to download is emotion2vec/…, not iic/…
        raise ModelError(f"is not in the local {where} cache and {why}.", source=model_id if hub == "ms" else hf_repo(model_id), fix=fix)


def hub_unreachable(hub: str = "ms") -> str | None:
    """Why ``hub`` cannot be used now ("offline mode is set", "huggingface.co cannot be reached (…)"), or None."""
    if offline():
        return "offline mode is set"
    host = _HUB_HOSTS[hub]
    if hub == "hf" and os.environ.get("HF_ENDPOINT"):
        host = urlparse(os.environ["HF_ENDPOINT"]).hostname or host
    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError as exc:
        return f"{host} cannot be reached ({exc})"
    return None

