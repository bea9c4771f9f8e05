"""Utterance embeddings: load, project, cluster, find neighbours, compare files.

A run stores its utterance embeddings in ``embeddings.npy`` — one float32 row
per ``results.parquet`` row (NaN for failed rows).  :func:`load_run_embeddings`
memory-maps it, so 100 000 × 1024 embeddings open in milliseconds and only the
rows you touch are read.  Frame-level embeddings, when a run asked for them,
live in ``frame_embeddings/<variant>/<id>.npy``.

Projections: PCA (scikit-learn), t-SNE (scikit-learn) and UMAP (umap-learn),
all seeded.  Clustering: k-means and agglomerative (Ward), ``k`` chosen by the
silhouette score.  Similarity is cosine throughout (``similar``, the cosine of two files placed among
reference pairs, is in :mod:`workbench.analysis.similarity`).
"""

from __future__ import annotations

import difflib
import logging
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.analysis.stats import permutation_p_words
from workbench.model.ref import ModelRef
from workbench.engine.core import score_sources
from workbench.errors import ConfigError, printable, WorkbenchError
from workbench.runs.folder import RunFolder, as_run_folder, pick_variant, select_mask

logger = logging.getLogger(__name__)
#: cached 2-D projections in a run folder, one fixed file per slow method (PCA is fast and never cached)
PROJECTION_CACHE = {"umap": "projection_umap_cache.npz", "tsne": "projection_tsne_cache.npz"}
from workbench.serialize import figure_text, save_figure
from workbench.paths import installed_version
from workbench.schema import text_values


@dataclass
class RunEmbeddings:
    """Rows of a run (one variant) that have an embedding, and their matrix."""

    rows: Any  # DataFrame, index reset
    matrix: np.ndarray  # (n, D) float32
    variant: str
    run_dir: Path

    def __len__(self) -> int:
        return len(self.rows)

    def index_of(self, item_id: str) -> int:
        ids = self.rows["id"].astype(str).to_numpy()
        hits = np.flatnonzero(ids == str(item_id))
        if not len(hits):  # the closest ids named: a typo was answered with "check the id" among thousands
            close = difflib.get_close_matches(str(item_id), list(dict.fromkeys(ids.tolist())), n=3, cutoff=0.6)
            guess = f"; did you mean {', '.join(repr(printable(c)) for c in close)}?" if close else ""
            raise ConfigError(f"item {printable(item_id)!r} has no embedding in variant {self.variant!r} of this run "
                              f"({len(ids)} embedded items){guess or '.'}", source=str(self.run_dir),
                              fix="pass one of the run's ids (results.parquet lists them; failed items have no embedding), "
                                  "or the path of an audio file (no file is at that path).")
        return int(hits[0])


def load_run_embeddings(run_dir: "str | Path | RunFolder", *, variant: str | None = None) -> RunEmbeddings:
    """The embedded rows of one variant of a run (default: the first variant), read through :class:`RunFolder`."""
    rf = as_run_folder(run_dir)
    results, emb = rf.results(), rf.embeddings()
    variant = pick_variant(results, variant, source=str(rf.path))
    mask = select_mask(results, variant, "ok")
    idx = np.flatnonzero(mask)
    matrix = np.asarray(emb[idx], dtype=np.float32)
    good = np.isfinite(matrix).all(axis=1)
    return RunEmbeddings(results.iloc[idx[good]].reset_index(drop=True), matrix[good], str(variant), rf.path)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(l2_normalise(a), l2_normalise(b)))


# ---------------------------------------------------------------------------
# projection and clustering
# ---------------------------------------------------------------------------
#: embeddings whose every coordinate spreads by at most this many units in the last place of its own largest value (or
#: of the typical coordinate's, when below) are the same point: a projection of them would draw float rounding noise
#: (PCA of five bitwise identical embeddings drew two points 1e-15 apart, stretched to fill the axes)
ROUNDING_ULPS = 64


def identical_words(x: np.ndarray) -> str:
    """Why ``x`` (n, D) is one point when its spread is at float rounding level, in words; "" when it is not (or n < 2)."""
    x = np.asarray(x)
    if len(x) < 2 or not np.isfinite(x).all():
        return ""
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    wide = x.astype(np.float64)
    # each coordinate against its own magnitude: measured against the matrix's largest value, one large constant
    # coordinate (1000 beside values of 1e-3) made embeddings 6e-3 apart "identical"; floored at the median
    # coordinate's, so a coordinate near zero keeps the others' noise floor
    spreads, column = np.ptp(wide, axis=0), np.abs(wide).max(axis=0)
    if (spreads > ROUNDING_ULPS * float(np.finfo(dtype).eps) * np.maximum(column, np.median(column))).any():
        return ""
    spread = float(spreads.max())
    how = "bitwise" if spread == 0 else f"largest spread {spread:.1e}, at {dtype.name} rounding level"
    return f"all {len(x)} embeddings are identical ({how}): they are one point, and the projection draws them as one"


#: the map neighbours a projection's trustworthiness counts, and the most items it is measured on (a seeded sample)
TRUST_NEIGHBOURS, TRUST_MAX_ITEMS = 5, 2000


def projection_trust(matrix: np.ndarray, xy: np.ndarray, *, seed: int = 0) -> dict:
    """Whether a 2-D map keeps the embeddings' neighbourhoods: trustworthiness (Venna & Kaski 2001, scikit-learn's) with
    :data:`TRUST_NEIGHBOURS` neighbours, 1 when every near neighbour on the map is a near one in the embeddings, and the
    same of a random layout of the same points (the map's points shuffled among the items, seeded: about 0.5).

    A map is flagged (``flag``) when its trustworthiness is less than halfway from the random layout's to 1: most of
    its near neighbours are then not the embeddings', and a cluster seen on it may be the projection's.  Returns
    ``{"trustworthiness", "random_layout", "neighbours", "items", "words", "flag"}``; None figures and the reason in
    ``words`` with too few items (under ``2 * neighbours + 2``) or embeddings that are one point."""
    from sklearn.manifold import trustworthiness

    x, xy = np.asarray(matrix, dtype=np.float64), np.asarray(xy, dtype=np.float64)
    n, k = len(x), TRUST_NEIGHBOURS
    out = {"trustworthiness": None, "random_layout": None, "neighbours": k, "items": int(min(n, TRUST_MAX_ITEMS)), "flag": ""}
    if n < 2 * k + 2 or identical_words(x) or not (np.isfinite(x).all() and np.isfinite(xy).all()):
        return out | {"words": f"trustworthiness not measured: {identical_words(x) or f'{n} items (it needs {2 * k + 2} or more)'}"}
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(n, TRUST_MAX_ITEMS, replace=False)) if n > TRUST_MAX_ITEMS else np.arange(n)
    t = float(trustworthiness(x[keep], xy[keep], n_neighbors=k))
    r = float(trustworthiness(x[keep], xy[keep][rng.permutation(len(keep))], n_neighbors=k))
    sample = f"a seeded sample of {len(keep)} of {n} items" if n > len(keep) else f"{n} items"
    words = f"trustworthiness {t:.3f} ({k} nearest neighbours on the map, over {sample}; a random layout of the same points {r:.3f})"
    floor = (1 + r) / 2
    flag = (f"NEIGHBOURHOODS NOT KEPT: trustworthiness {t:.3f} is under {floor:.3f}, halfway from a random layout's {r:.3f} "
            "to 1: the map's near neighbours are closer to a random layout's than to the embeddings' own, so a cluster seen "
            "on it may be the projection's") if t < floor else ""
    return out | {"trustworthiness": t, "random_layout": r, "words": words, "flag": flag}


def project(x: np.ndarray, method: str = "pca", *, seed: int = 0, **kwargs) -> np.ndarray:
    """(n, D) → (n, 2) with ``pca``, ``tsne`` or ``umap``; embeddings that are one point (:func:`identical_words`) give
    ``(n, 2)`` zeros, not the method's rounding noise."""
    x = np.asarray(x, dtype=np.float32)
    if len(x) < 3:
        raise ConfigError(f"a 2-D projection needs at least 3 embeddings, given {len(x)}.", fix="run more items.")
    if method in ("pca", "tsne", "umap") and identical_words(x):
        return np.zeros((len(x), 2), dtype=np.float32)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = kwargs.pop("perplexity", min(30.0, max(2.0, (len(x) - 1) / 3)))
        return TSNE(n_components=2, random_state=seed, perplexity=perplexity, init="pca", **kwargs).fit_transform(x)
    if method == "umap":
        try:
            import umap
        except ImportError as exc:
            raise ConfigError("UMAP needs the umap-learn package.", fix="pip install umap-learn, or use method='pca' or 'tsne'.") from exc
        n_neighbors = kwargs.pop("n_neighbors", min(15, len(x) - 1))
        return umap.UMAP(n_components=2, random_state=seed, n_neighbors=n_neighbors, metric="cosine", **kwargs).fit_transform(x)
    raise ConfigError(f"unknown projection {method!r}; expected pca, tsne or umap.", fix="pass method='pca'.")


@dataclass
class Clustering:
    method: str
    k: int
    labels: np.ndarray
    silhouette: float
    silhouette_by_k: dict[int, float]
    #: the same procedure (the same ks, the best silhouette kept) on ``null_draws`` single Gaussian blobs with the
    #: embeddings' own mean and covariance: what a silhouette reaches on data with no cluster structure at all
    null_silhouettes: list[float] = field(default_factory=list)
    #: how many different directions the (L2-normalised) embeddings point in; None when not counted
    distinct: int | None = None
    #: the ks the silhouette chose among (empty when ``k`` was given)
    searched: list[int] = field(default_factory=list)

    def bound_words(self) -> str:
        """Words for a k chosen at the top of the ks searched, or ``""``: the silhouette may rise further past it (a
        temperature at its search bound is flagged the same way).  The bottom, k=2, is no bound: k=1 has no silhouette."""
        ks = [kk for kk in self.searched if self.silhouette_by_k.get(kk) == self.silhouette_by_k.get(kk)]
        if len(ks) < 2 or self.k != max(ks) or self.silhouette != self.silhouette:
            return ""
        below = self.silhouette_by_k[sorted(ks)[-2]]
        return (f"k={self.k} is the largest k searched ({min(ks)}-{max(ks)}), the silhouette still rising there ({below:.3f} at "
                f"k={sorted(ks)[-2]}, {self.silhouette:.3f} at k={self.k}): the best k may lie beyond the search; try a larger --k")

    def failed_checks(self) -> list[str]:
        """The clustering's failed checks in the screen's words (empty when every one passed): an undefined silhouette, one
        no better than a structureless blob's (or a check that could not be made against the blobs drawn), a k at the top of
        the search.  ``--json`` lists them, and a projection coloured by cluster says them in its title."""
        out = [self.silhouette_words()] if self.silhouette != self.silhouette else []
        if not out and (self.above_null is False or (self.above_null is None and self.null_silhouettes)):
            out.append(self.null_words())
        return out + ([self.bound_words()] if self.bound_words() else [])

    def silhouette_words(self) -> str:
        """``silhouette 0.412``, or why it is undefined (a NaN printed as "silhouette nan" said nothing)."""
        if self.silhouette == self.silhouette:
            return f"silhouette {self.silhouette:.3f}"
        n = len(self.labels)
        why = (f"all {n} embeddings are identical after L2 normalisation" if self.distinct == 1
               else f"every k tried put all {n} items in one cluster")
        return f"silhouette UNDEFINED: {why}, so k={self.k} is the first k tried, not a choice, and its clusters say nothing"

    @property
    def above_null(self) -> bool | None:
        """True when the silhouette beats every structureless draw; None when the check could not be made (no draws,
        every draw's silhouette undefined, or the clustering's own silhouette undefined)."""
        finite = [v for v in self.null_silhouettes if v == v]
        if not finite or self.silhouette != self.silhouette:
            return None
        return bool(self.silhouette > max(finite))

    def null_words(self) -> str:
        """The check in words, for the screen and the report."""
        n = len(self.null_silhouettes)
        if self.silhouette != self.silhouette:  # first: with no silhouette of its own there is nothing to check
            why = "all embeddings are identical after L2 normalisation" if self.distinct == 1 else "every k put all items in one cluster"
            return f"NOT CHECKED: the clustering's own silhouette is undefined ({why}), so there is nothing to set against a baseline"
        if not n:
            return "no structureless baseline drawn"
        finite = [v for v in self.null_silhouettes if v == v]
        if not finite:
            return (f"NOT CHECKED: the silhouette of all {n} single Gaussian blobs of the same size and covariance is undefined (the "
                    f"procedure put each blob in one cluster), so whether k={self.k} beats a structureless blob is unknown")
        skipped = f" ({n - len(finite)} of them undefined)" if len(finite) < n else ""
        base = f"{n} single Gaussian blobs of the same size and covariance reach up to {max(finite):.3f}{skipped}"
        if self.above_null:
            return f"above all of them ({base})"
        return f"NO CLUSTER STRUCTURE beyond a single blob: {base}, so k={self.k} and its clusters may be noise"


#: structureless draws for the silhouette's baseline (``cluster(null_draws=)``), each fitted with ``NULL_N_INIT`` k-means
#: starts (the real data gets 10) on at most ``NULL_MAX_ITEMS`` items: measured on 535 × 1024 embeddings, 10 draws at
#: 10 starts took 86 s against the clustering's own 10 s; these settings add about half of the clustering's time.  A blob
#: of fewer items reaches a higher silhouette, so the cap makes the check stricter, never looser.
NULL_DRAWS, NULL_N_INIT, NULL_MAX_ITEMS = 5, 3, 300


def check_k(n: int, k: int | None) -> None:
    """Refuse ``k`` clusters of ``n`` embeddings that no silhouette can score (``--k 100000`` of 4 items ended in
    sklearn's 'unexpected ValueError')."""
    if k and k >= n:
        raise ConfigError(f"cannot cluster {n} embeddings into k={k} clusters: a silhouette needs fewer clusters than items.",
                          fix="pass a smaller --k, or leave it out (the best of k=2..10 is chosen).")


def cluster(x: np.ndarray, method: str = "kmeans", *, k: int | None = None, k_range: Sequence[int] = range(2, 11), seed: int = 0,
            null_draws: int = NULL_DRAWS) -> Clustering:
    """k-means or agglomerative (Ward) clustering of L2-normalised embeddings;
    without ``k``, the ``k`` with the highest silhouette score (cosine) wins.

    The silhouette's check: the same procedure on ``null_draws`` single Gaussian blobs with the embeddings' mean and
    covariance (no clusters by construction).  Choosing the best k lifts a silhouette even on such a blob, more so
    with few items; a silhouette that does not beat every draw shows no cluster structure (:attr:`Clustering.above_null`).
    """
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.metrics import silhouette_score

    raw = np.asarray(x, dtype=np.float64)
    x = l2_normalise(x)
    if method not in ("kmeans", "agglomerative"):
        raise ConfigError(f"unknown clustering {method!r}; expected kmeans or agglomerative.", fix="pass method='kmeans'.")

    def fit(data: np.ndarray, kk: int, n_init: int = 10) -> np.ndarray:
        if method == "kmeans":
            return KMeans(n_clusters=kk, n_init=n_init, random_state=seed).fit_predict(data)
        return AgglomerativeClustering(n_clusters=kk, linkage="ward").fit_predict(data)

    check_k(len(x), k)
    ks = [k] if k else [kk for kk in k_range if 2 <= kk < len(x)]
    if not ks:
        raise ConfigError(f"cannot cluster {len(x)} embeddings into {list(k_range)} clusters.", fix="run more items or pass a smaller k.")

    def best_of(data: np.ndarray, n_init: int = 10) -> tuple[int, dict, dict]:
        scores, labels = {}, {}
        for kk in ks:
            labels[kk] = fit(data, kk, n_init)
            scores[kk] = float(silhouette_score(data, labels[kk], metric="cosine")) if len(set(labels[kk])) > 1 else float("nan")
        return max(ks, key=lambda kk: -np.inf if np.isnan(scores[kk]) else scores[kk]), scores, labels

    best, scores, labels = best_of(x)
    nulls = []
    if null_draws > 0:
        # a Gaussian with the embeddings' own mean and covariance, drawn through the SVD of the centred matrix
        mean = raw.mean(axis=0)
        _, sv, vt = np.linalg.svd(raw - mean, full_matrices=False)
        scale = sv / np.sqrt(max(len(raw) - 1, 1))
        rng = np.random.default_rng(seed)
        size = min(len(raw), NULL_MAX_ITEMS)
        for _ in range(int(null_draws)):
            blob = (rng.standard_normal((size, len(sv))) * scale) @ vt + mean
            b, sc, _ = best_of(l2_normalise(blob), NULL_N_INIT)
            nulls.append(sc[b])
    return Clustering(method, best, labels[best], scores[best], scores, nulls, distinct=len(np.unique(x, axis=0)), searched=[] if k else ks)


#: label shuffles of the clusters' label check (:func:`label_agreement`) and the p-value at which it passes
LABEL_PERMUTATIONS, LABEL_P = 999, 0.05


def label_agreement(clusters: Sequence, labels: Sequence[str], *, n_perm: int = LABEL_PERMUTATIONS, seed: int = 0,
                    speakers: Sequence | None = None) -> dict:
    """Whether the clusters track the labels: the adjusted Rand index (sklearn) of ``clusters`` with ``labels`` over the
    labelled items (``labels`` ``""`` are left out), against the same index with the labels shuffled ``n_perm`` times
    (seeded).  A cluster listed as "sad 6, happy 2, angry 1" reads as the sad cluster; the check says whether the
    clusters hold the labels any better than a random split of the same sizes would.

    Returns ``{"n", "ari", "null_95", "p", "permutations", "passed", "words"}``: ``p`` is ``(1 + shuffles reaching the
    ARI) / (n_perm + 1)``; ``passed`` None (and ``ari`` None) when there is nothing to check (fewer than 2 labels or 2
    clusters among the labelled items); ``passed`` None and ``confounded`` True (a flag) when each speaker speaks one
    label, so no shuffle within speakers moves a label.

    ``speakers`` (each item's speaker, ``""`` for none): the labels are shuffled within each speaker, so every shuffle
    keeps each speaker's own mix of labels (items with no speaker are shuffled among themselves).  Clips of one speaker
    share the voice, and the clusters follow it: labels shuffled across speakers broke the speaker-label link the
    clusters inherit, so clusters of speakers whose labels differ read as emotion clusters (p near 0 though the
    clusters hold nothing of the labels beyond the speakers).  ``"shuffled"`` says which shuffle was made."""
    from sklearn.metrics import adjusted_rand_score

    c, y = np.asarray(clusters).astype(str), np.asarray(labels).astype(str)
    keep = y != ""
    c, y = c[keep], y[keep]
    spk = ["" if v is None or v != v else str(v).strip() for v in (speakers if speakers is not None else [])]
    spk = np.asarray(spk, dtype=object)[keep] if any(spk) else None
    known = len(set(spk.tolist()) - {""}) if spk is not None else 0
    shuffled = f"within each of the {known} speakers" if known else "across items (no speaker known: items taken as independent)"
    out = {"n": int(keep.sum()), "ari": None, "null_95": None, "p": None, "permutations": 0, "passed": None, "shuffled": shuffled}
    if len(set(y)) < 2 or len(set(c)) < 2:
        what = f"{len(set(y))} label(s)" if len(set(y)) < 2 else f"{len(set(c))} cluster(s)"
        return {**out, "words": f"label check not made: the {out['n']} labelled item(s) hold {what}; it needs two"}
    ari = float(adjusted_rand_score(y, c))
    # a shuffle keeps both margins, so only the pairs together in both change: counted from the contingency table
    # (sklearn's own formula; 999 calls of adjusted_rand_score took 14 s on 10,000 items)
    (_, yc), (_, cc) = (np.unique(v, return_inverse=True) for v in (y, c))
    kc, pairs = int(cc.max()) + 1, lambda t: float((t * (t - 1)).sum() / 2)
    rows, cols, total = pairs(np.bincount(yc)), pairs(np.bincount(cc)), len(y) * (len(y) - 1) / 2
    expected, top = rows * cols / total, (rows + cols) / 2
    rng = np.random.default_rng(seed)
    groups = None if spk is None else np.unique(spk.astype(str), return_inverse=True)[1]
    if groups is not None and len(np.unique(groups * (int(yc.max()) + 1) + yc)) == len(np.unique(groups)):
        # every speaker speaks one label: a shuffle within speakers moves nothing, every shuffle reaches the ARI and
        # p = 1 read "CLUSTERS DO NOT TRACK THE LABELS" even for clusters that hold the labels exactly
        return {**out, "ari": ari, "confounded": True,
                "words": f"LABEL CHECK NOT POSSIBLE: each of the {known} speakers speaks one label, so shuffles within speakers "
                         f"leave the labels as they are (adjusted Rand index {ari:.3f} over {out['n']} labelled items): clusters "
                         "that follow the voices cannot be told from clusters that follow the labels"}
    shuffle = rng.permutation if groups is None else _within(groups, rng)
    null = np.array([(pairs(np.bincount(shuffle(yc) * kc + cc)) - expected) / (top - expected) for _ in range(int(n_perm))])
    p = float((1 + np.sum(null >= ari - 1e-12)) / (len(null) + 1))
    passed = p < LABEL_P
    base = (f"adjusted Rand index with the labels {ari:.3f} over {out['n']} labelled items; labels shuffled {shuffled} reach "
            f"{np.percentile(null, 95):.3f} (95th percentile of {len(null)}), {permutation_p_words(p, len(null))}")
    words = (f"clusters track the labels: {base}" if passed else
             f"CLUSTERS DO NOT TRACK THE LABELS: {base}, so a cluster's most frequent label does not make it that label's cluster")
    return {**out, "ari": ari, "null_95": float(np.percentile(null, 95)), "p": p, "permutations": int(len(null)),
            "passed": bool(passed), "words": words}


def _within(groups: np.ndarray, rng):
    """A shuffle ``values -> values`` that permutes values only among the items of one group (seeded by ``rng``)."""
    order = np.argsort(groups, kind="stable")

    def shuffle(values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[order] = values[np.lexsort((rng.random(len(groups)), groups))]
        return out

    return shuffle


# ---------------------------------------------------------------------------
# neighbours and similarity
# ---------------------------------------------------------------------------
def nearest(matrix: np.ndarray, query: np.ndarray, k: int = 5, *, exclude: int | None = None) -> list[tuple[int, float]]:
    """Indices and cosine similarities of the ``k`` rows of ``matrix`` closest to ``query``."""
    sims = l2_normalise(matrix) @ l2_normalise(query)
    if exclude is not None:
        sims[exclude] = -np.inf
    k = min(k, len(sims) - (exclude is not None))
    top = np.argpartition(-sims, k - 1)[:k] if k > 0 else np.zeros(0, int)
    top = top[np.argsort(-sims[top])]
    return [(int(i), float(sims[i])) for i in top]


def names_a_file(query: Any) -> bool:
    """Whether ``query`` (an item id or an audio file) names a file: an id no file name can hold (300 characters, a NUL)
    is an id, where ``Path.is_file`` raised 'unexpected OSError'."""
    try:
        return isinstance(query, (str, os.PathLike)) and Path(query).is_file()
    except (OSError, ValueError):
        return False


def neighbours(emb: RunEmbeddings, query: Any, k: int = 5, *, model: Any = None):
    """The ``k`` nearest items of a run to an item id or to a new audio file (embedded with ``model``)."""
    import pandas as pd

    exclude = None
    if isinstance(query, str) and not names_a_file(query):
        exclude = emb.index_of(query)
        vec = emb.matrix[exclude]
    else:
        vec = embed_file(query, model)
    hits = nearest(emb.matrix, vec, k, exclude=exclude)
    cols = [c for c in ("id", "path", "emotion", "pred", "confidence", "speaker") if c in emb.rows.columns]
    out = emb.rows.iloc[[i for i, _ in hits]][cols].reset_index(drop=True)
    out.insert(0, "cosine", [s for _, s in hits])
    out = pd.DataFrame(out)
    # the embeddings are anisotropic (two unrelated clips reach 0.8 and more): each cosine is read beside the query's
    # cosines with every other item of the run, as `similar` places its cosine among a reference's pairs
    sims = np.delete(l2_normalise(emb.matrix) @ l2_normalise(vec), [] if exclude is None else [exclude])
    out.attrs["reference"] = ({"items": int(len(sims)), "min": float(sims.min()), "median": float(np.median(sims)),
                               "max": float(sims.max())} if len(sims) else {"items": 0})
    return out


def _scored(sources: list, model: Any) -> list:
    """Predictions of files through the engine; a file that cannot be scored raises its own error."""
    return [s.prediction_or_raise() for s in score_sources(ModelRef.coerce(model).load(), sources, workers=0)]


def embed_file(path: Any, model: Any = None) -> np.ndarray:
    """The (D,) utterance embedding of one file, scored through the engine."""
    return _scored([path], model)[0].embedding


def project_run(emb: RunEmbeddings, method: str = "pca", *, seed: int = 0) -> tuple[np.ndarray, bool]:
    """``(n, 2)`` projection of a run's embeddings, and whether it came from the run folder's cache.

    PCA (the default) takes well under a second and is always computed.  UMAP (about 40 s on 535
    embeddings, most of it numba compiling) and t-SNE are kept in the run folder through
    :data:`PROJECTION_CACHE` (one file per method, replaced each time), keyed by the sha256 of the embeddings, the variant, the method,
    its version and the seed: the same command again reads them back; changed embeddings recompute.
    """
    import hashlib

    if method == "pca":
        return project(emb.matrix, method, seed=seed), False
    if method not in ("umap", "tsne"):
        return project(emb.matrix, method, seed=seed), False  # project() refuses it with the valid methods
    version = installed_version("umap-learn" if method == "umap" else "scikit-learn") or "?"  # not installed: project() says how
    matrix = np.ascontiguousarray(emb.matrix, dtype=np.float32)
    h = hashlib.sha256(matrix.tobytes())
    h.update(repr((matrix.shape, emb.variant, method, version, int(seed), list(emb.rows["id"].astype(str)))).encode())
    key = h.hexdigest()
    rf = as_run_folder(emb.run_dir)
    try:
        cached = rf.artifact(PROJECTION_CACHE[method], default=None)
    except WorkbenchError:  # a damaged cache is recomputed, never trusted
        cached = None
    xy = cached.get("xy") if isinstance(cached, dict) and str(cached.get("key")) == key else None
    # float32 and finite as written: strings there crashed the command (ValueError), NaN under a matching checksum was drawn
    if isinstance(xy, np.ndarray) and xy.dtype == np.float32 and xy.shape == (len(matrix), 2) and np.isfinite(xy).all():
        xy = np.ascontiguousarray(xy)  # the numbers must be the ones written: a content checksum
        if str(cached.get("xy_sha256")) == hashlib.sha256(xy.tobytes()).hexdigest():  # (an edit under an intact key was reused)
            return xy, True
        logger.warning("%s: its coordinates do not match the checksum written with them (edited, or written before checksums): "
                       "the %s projection is computed again", PROJECTION_CACHE[method], method)
    xy = project(matrix, method, seed=seed)
    arr = np.ascontiguousarray(xy, dtype=np.float32)
    digest = hashlib.sha256(arr.tobytes()).hexdigest()
    rf.write_artifact(PROJECTION_CACHE[method], lambda f: np.savez(f, key=np.asarray(key), xy=arr, xy_sha256=np.asarray(digest)))
    return xy, False


#: axis names of the projections without a variance to report (their axes have no units and no order of importance)
_AXIS_NAMES = {"umap": "UMAP", "tsne": "t-SNE"}


def projection_axis_labels(method: str | None, matrix: np.ndarray | None = None, xy: np.ndarray | None = None) -> tuple[str, str]:
    """The two axis labels of a projection: ``PC1 (23.4 % of variance)`` for PCA, ``UMAP 1`` / ``t-SNE 1`` otherwise.

    PCA's share of variance needs the embeddings (``matrix``, ``(n, D)``) and their projection (``xy``): a principal
    component's scores have the component's variance, so the share is the variance of ``xy``'s column over the total
    variance of ``matrix`` (exactly scikit-learn's ``explained_variance_ratio_``, with no second fit).  Without them
    the labels say ``PC1`` and ``PC2`` only.  ``method`` None (unknown): ``projection 1`` and ``projection 2``.
    """
    if method == "pca":
        if matrix is not None and xy is not None and len(xy) > 1:
            total = float(np.var(np.asarray(matrix, dtype=np.float64), axis=0, ddof=1).sum())
            shares = np.var(np.asarray(xy, dtype=np.float64), axis=0, ddof=1) / total if total > 0 else (np.nan, np.nan)
            return tuple(f"PC{k + 1} ({100 * s:.1f} % of variance)" if np.isfinite(s) else f"PC{k + 1}"
                         for k, s in enumerate(shares[:2]))
        return ("PC1", "PC2")
    name = _AXIS_NAMES.get(str(method).lower(), "projection") if method else "projection"
    return (f"{name} 1", f"{name} 2")


def plot_projection(xy: np.ndarray, rows, color_by: str = "emotion", *, title: str = "", path: str | Path | None = None, ax=None,
                    method: str | None = None, matrix: np.ndarray | None = None, flags: Sequence[str] = (), checks: Sequence[str] = ()):
    """Scatter of a 2-D projection ``(n, 2)`` coloured by a column of ``rows`` (``correct`` works too).

    ``method`` (``pca``, ``umap``, ``tsne``) names the axes; with ``matrix``, the embeddings that were projected, PCA's
    axes say their share of the variance (:func:`projection_axis_labels`), and embeddings that are one point
    (:func:`identical_words`) are said so in the figure.  ``flags``: failed checks of what the colours show (a clustering's
    :meth:`Clustering.failed_checks`), each said in the title up to its details, after ``!!``; ``checks``: the checks that
    make the map and its colours meaningful, in short words (the map's trustworthiness beside a random layout's, the
    clusters' silhouette and label check), on lines of their own under the title, passed or not.
    ``ax``: matplotlib axes to draw on, or None for a new figure.  Returns the figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if color_by == "correct" and "correct" not in rows.columns:
        values = (rows["pred"].astype(str) == rows["emotion"].astype(str)).map({True: "right", False: "wrong"})
    elif color_by not in rows.columns:
        raise ConfigError(f"cannot colour by {color_by!r}: no such column.", fix=f"use one of {sorted(rows.columns)}.")
    else:
        values = text_values(rows[color_by]).replace("", f"no {color_by}")  # "— (1)" said nothing
        if color_by == "correct":  # the legend read "False (52)" and "no correct (1)" (walk18)
            values = values.replace({"True": "right", "False": "wrong", "no correct": "no label"})
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 5))
    else:
        fig = ax.figure
    cmap = plt.get_cmap("tab10" if values.nunique() <= 10 else "tab20")
    for i, v in enumerate(sorted(values.unique(), key=lambda v: (v in (f"no {color_by}", "no label"), v))):
        m = (values == v).to_numpy()
        ax.scatter(xy[m, 0], xy[m, 1], s=14, color=cmap(i % cmap.N), label=figure_text(f"{v} ({m.sum()})"), alpha=0.8)
    ax.legend(fontsize=8, markerscale=1.2, loc="best")
    title = figure_text(title or f"embeddings coloured by {color_by}")
    chars = max(30, int(fig.get_size_inches()[0] * 72 / (10 * 0.6)))  # a title line as wide as the figure
    if checks:  # a figure ships with its checks, not only the screen (a passed one was said there and in --json only)
        title += "\n" + "\n".join(figure_text(line) for check in checks for line in textwrap.wrap(check, chars))
    if flags:  # the words before their details ("NO CLUSTER STRUCTURE beyond a single blob"), wrapped to the figure's width
        title += "\n" + "\n".join(figure_text(line) for line in textwrap.wrap("!! " + "; ".join(f.split(":")[0] for f in flags), chars))
    ax.set_title(title, fontsize=11 if not (flags or checks) else 10, color="crimson" if flags else "black")
    ax.set_xticks([])
    ax.set_yticks([])
    xlabel, ylabel = projection_axis_labels(method, matrix, xy)
    one = identical_words(matrix) if matrix is not None else ""
    if one:  # said in the figure itself: a single dot with no axes to read could pass for a failed plot
        ax.text(0.5, 0.06, figure_text(one), transform=ax.transAxes, ha="center", va="bottom", fontsize=8, wrap=True, color="firebrick")
    ax.set_xlabel(xlabel, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=10)
    return save_figure(fig, path)
