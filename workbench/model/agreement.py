"""How far two sets of predictions of the same items agree: labels, scores and embeddings.

The check every faster path (another precision, ONNX Runtime) passes against float32 PyTorch, and the
agreement `workbench compare` reports between runs.  It sits with the model so that both can use it.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

__all__ = ["acceptable", "agreement", "agreement_figures", "certain_top1", "cohen_kappa", "describe_agreement", "item_distances", "row_cosines",
           "shortfalls", "MIN_COSINE", "MIN_TOP1_AGREEMENT"]

#: a path is usable when it keeps this share of float32's top-1 labels (issue #28: 23 of 24) ...
MIN_TOP1_AGREEMENT = 0.95
#: ... and every embedding this close to float32's in direction
MIN_COSINE = 0.99


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two label sequences (sklearn), NaN when undefined.

    ``κ = (p_o − p_e) / (1 − p_e)`` with ``p_o`` the observed agreement and
    ``p_e = Σ_k p_a(k) p_b(k)`` the agreement expected from the two marginals.
    When both sequences hold one and the same label, ``p_e = 1`` and κ is 0/0:
    NaN, not 1 (top-1 agreement says they agree on every item).
    """
    from sklearn.metrics import cohen_kappa_score

    a, b = np.asarray(a, dtype=str), np.asarray(b, dtype=str)
    if len(a) == 0 or (len(set(a.tolist()) | set(b.tolist())) == 1):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cohen_kappa_score(a, b))


def item_distances(scores_a: np.ndarray, scores_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per item: ``max_k |Δ score_k|`` and the total variation distance ``½ Σ_k |Δ score_k|``.

    ``scores_*``: ``(n, 9)`` score vectors of the same items.  Both distances are in [0, 1].
    """
    d = np.abs(np.asarray(scores_a, dtype=float) - np.asarray(scores_b, dtype=float))
    return d.max(axis=1), 0.5 * d.sum(axis=1)


def certain_top1(scores_ref: np.ndarray, scores_other: np.ndarray) -> int:
    """How many items' top-1 the other path's score differences cannot have decided: the reference's top-two margin
    is over twice the item's ``max_k |Δ score_k|`` (each score moved by at most that much, so the gap between any two
    classes by at most twice it).  An item under it is a near tie that the path keeps only by luck: a head with
    near-uniform scores kept 4 of 4 seeded clips under int8 and flipped 3 of 53 in its run (walk16).  An item whose
    label changed is never certain."""
    a, b = np.asarray(scores_ref, dtype=float), np.asarray(scores_other, dtype=float)
    if not len(a) or a.shape[1] < 2:
        return int(len(a))  # one class: nothing to flip
    top = np.sort(a, axis=1)
    return int(np.sum(top[:, -1] - top[:, -2] > 2 * item_distances(a, b)[0]))


def row_cosines(emb_a: np.ndarray, emb_b: np.ndarray) -> np.ndarray:
    """Cosine of row ``i`` of ``emb_a`` with row ``i`` of ``emb_b`` (``(n, D)`` each)."""
    a = np.asarray(emb_a, dtype=np.float64)
    b = np.asarray(emb_b, dtype=np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    return np.sum(a * b, axis=1) / np.maximum(na * nb, 1e-300)


def agreement(pred_a, pred_b, scores_a, scores_b, emb_a=None, emb_b=None) -> dict:
    """How much two runs agree on the same items (arrays aligned item by item).

    Returns ``n``, ``kappa``, ``top1_agreement``, ``n_label_flips``,
    ``max_abs_delta_score`` / ``mean_max_abs_delta_score`` (over items of the
    per-item max over the nine scores), ``max_tvd`` / ``mean_tvd`` and
    ``cosine_min`` / ``cosine_mean`` (``None`` when the embeddings cannot be
    compared: no embeddings, or other dimensions).
    """
    pa, pb = np.asarray(pred_a, dtype=str), np.asarray(pred_b, dtype=str)
    n = len(pa)
    mx, tvd = item_distances(scores_a, scores_b) if n else (np.zeros(0), np.zeros(0))
    out = {
        "n": int(n), "kappa": cohen_kappa(pa, pb), "top1_agreement": float(np.mean(pa == pb)) if n else float("nan"),
        "n_label_flips": int(np.sum(pa != pb)),
        "max_abs_delta_score": float(mx.max()) if n else float("nan"), "mean_max_abs_delta_score": float(mx.mean()) if n else float("nan"),
        "max_tvd": float(tvd.max()) if n else float("nan"), "mean_tvd": float(tvd.mean()) if n else float("nan"),
        "cosine_min": None, "cosine_mean": None,
    }
    if emb_a is not None and emb_b is not None and n and np.shape(emb_a)[1:] == np.shape(emb_b)[1:] and np.shape(emb_a)[1]:
        cos = row_cosines(emb_a, emb_b)
        out["cosine_min"], out["cosine_mean"] = float(cos.min()), float(cos.mean())
    return out


# the agreement a faster path (--dtype auto's candidates, export-onnx's check) must keep with float32
def agreement_figures(reference: Sequence[Any], other: Sequence[Any]) -> dict:
    """Top-1 agreement, max |Δ score| and minimum embedding cosine of ``other``'s predictions against ``reference``'s."""
    same = sum(a.label == b.label for a, b in zip(reference, other))
    delta = max(float(np.max(np.abs(np.asarray(a.scores) - np.asarray(b.scores)))) for a, b in zip(reference, other))
    cosines = []
    for a, b in zip(reference, other):
        x, y = np.asarray(a.embedding, dtype=np.float64), np.asarray(b.embedding, dtype=np.float64)
        cosines.append(float(x @ y / max(np.linalg.norm(x) * np.linalg.norm(y), 1e-30)))
    n = len(reference)
    certain = certain_top1([a.scores for a in reference], [b.scores for b in other]) if n else 0
    out = {"clips": n, "top1_same": int(same), "top1_agreement": same / n if n else 0.0, "top1_certain": certain,
           "max_abs_delta_score": round(delta, 6), "cosine_min": round(min(cosines), 6)}
    if n:  # the share's exact (Clopper–Pearson) 95 % interval: 4 of 4 seeded clips cannot show 95 % agreement
        from scipy.stats import binomtest  # only where agreement is measured (once per CPU and checkpoint), not at a run's start

        ci = binomtest(int(same), n).proportion_ci(confidence_level=0.95, method="exact")
        out["top1_ci"] = [round(float(ci.low), 4), round(float(ci.high), 4)]
    return out


def acceptable(figures: dict) -> bool:
    """Whether a path's agreement with float32 is good enough for ``auto`` to choose it (and for ``export-onnx``'s
    check to pass); an agreement without embeddings to compare (``cosine_min`` ``None``) is not."""
    return not shortfalls(figures)


def shortfalls(figures: dict) -> list[str]:
    """What keeps ``figures`` from :func:`acceptable`, each as ``figure value < bound``; empty when it passes."""
    top1, cosine = _number(figures.get("top1_agreement")), _number(figures.get("cosine_min"))
    out = []
    if top1 is None or not top1 >= MIN_TOP1_AGREEMENT:  # NaN (no clips) fails too
        out.append(f"top-1 agreement {_shown(figures.get('top1_agreement'), top1, '.3f')} < {MIN_TOP1_AGREEMENT}")
    n, certain = figures.get("clips", figures.get("n")), figures.get("top1_certain")
    if "top1_certain" in figures:  # a record made before it was measured has none
        whole = isinstance(certain, int) and not isinstance(certain, bool) and isinstance(n, int) and 0 <= certain <= n
        if not whole:
            out.append(f"top-1 certain {certain!r} is not a count of the {n!r} clips")
        elif n and certain / n < MIN_TOP1_AGREEMENT:
            out.append(f"top-1 certain on {certain}/{n} clips < {MIN_TOP1_AGREEMENT} (the others are near ties: float32's "
                       "top-two margin within twice the path's |Δ score|, which can flip their label)")
    if cosine is None or not cosine >= MIN_COSINE:
        out.append(f"min embedding cosine {_shown(figures.get('cosine_min'), cosine, '.6f')} < {MIN_COSINE}")
    return out


def _number(value: Any) -> float | None:
    """A recorded figure as a number, ``None`` when it is none: ``true`` passed as 1 and a string crashed the check."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _shown(value: Any, number: float | None, spec: str) -> str:
    return "n/a" if value is None else (format(number, spec) if number is not None else f"{value!r} (not a number)")


def describe_agreement(figures: dict) -> str:
    ci = figures.get("top1_ci")  # a record made before it was measured has none; a hand-edited one is not printed
    ci_ok = isinstance(ci, list) and len(ci) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in ci)
    certain = figures.get("top1_certain")
    return (f"top-1 {figures['top1_same']}/{figures['clips']}" + (f" (95 % CI {ci[0]:.2f}–{ci[1]:.2f})" if ci_ok else "")
            + (f", {certain}/{figures['clips']} beyond a near tie" if isinstance(certain, int) and not isinstance(certain, bool) else "")
            + f", max |Δ score| {figures['max_abs_delta_score']:.4f}, cosine ≥ {figures['cosine_min']:.4f}")
