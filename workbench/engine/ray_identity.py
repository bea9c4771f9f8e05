"""Whether a Ray actor loaded the checkpoint the driver described (:mod:`.ray_executor`'s readiness probe).

The driver compares the model's identity (:func:`~workbench.model.weights.checkpoint_identity`: the weights'
sha256, ``config.yaml``, ``tokens.txt`` and a head's card), what the caches key on: compared by the weights' sha256
alone, a node whose ``config.yaml`` (another number of heads) or ``tokens.txt`` (the classes in another order) differs
served another network's scores under the driver's name.  An actor that reports no identity (a workbench of before it)
is compared by the weights' checksum, as before; a difference names what differs.
"""

from __future__ import annotations

from workbench.errors import ModelError
from workbench.model.weights import IDENTITY_FILES, identity_files

__all__ = ["identity_files", "expected_model", "model_mismatch", "check_actor_model"]


def expected_model(info) -> dict:
    """What the driver expects every actor to load: the described model's ``checksum``, ``identity`` and the digests
    of the files the identity covers (to say which one differs)."""
    recorded = getattr(info, "identity_files", None)  # read where it loaded: a hub id's download folder too
    return {"checksum": info.checksum, "identity": getattr(info, "identity", None),
            "files": recorded or (identity_files(info.path) if getattr(info, "path", None) else {})}


def model_mismatch(expected: dict | None, reported: dict, files: dict | None = None) -> str | None:
    """How the model an actor reports (``reported``: its info's dict; ``files``: its :func:`identity_files`) differs
    from ``expected`` (:func:`expected_model`), in words, or ``None`` when it is the same model (or nothing is
    known to compare)."""
    expected = expected or {}
    want, got = expected.get("checksum"), reported.get("checksum")
    if want and got and want != got:
        return f"weights with sha256 {got[:12]}…, but the driver's file has {want[:12]}…"
    want_id, got_id = expected.get("identity"), reported.get("identity")
    if not (want_id and got_id) or want_id == got_id:
        return None  # an actor that reports no identity: its weights' checksum (compared above) stands
    theirs, ours = files or reported.get("identity_files") or {}, expected.get("files") or {}
    differ = [name for name in IDENTITY_FILES if name in theirs and name in ours and theirs[name] != ours[name]]
    what = ", ".join(f"{name} ({'absent' if theirs[name] == 'absent' else theirs[name][:12] + '…'} there, "
                     f"{'absent' if ours[name] == 'absent' else ours[name][:12] + '…'} on the driver)" for name in differ)
    return (f"the same weights but another model (identity {got_id[:12]}…, the driver's {want_id[:12]}…): "
            + (f"{what} differ{'s' if len(differ) == 1 else ''}" if differ else f"one of {', '.join(IDENTITY_FILES)} differs"))


def check_actor_model(expected: dict | None, where: dict) -> None:
    """Refuse an actor (its readiness probe's answer ``where``) whose model is not the driver's (:func:`model_mismatch`)."""
    problem = model_mismatch(expected, where["model"], where.get("identity_files"))
    if problem:
        raise ModelError(f"the actor on node {where['node'][:12]} loaded {problem}.", source=where["worker"],
                         fix="give every node the same checkpoint files (weights, config.yaml, tokens.txt, training_card.json) at the same path.")
