"""Each group's signed recall gap against the rest, for a breakdown of three or more groups.

With two groups a class's recall gap is signed (first − second) and its interval may hold 0
(:func:`~workbench.analysis.groups._gap`); over three or more it was max − min only, which is ≥ 0 by construction and
cannot test "no gap".  Here each group ``g`` of a class gets ``recall_g − mean of the other groups' recalls`` (each
other group weighted alike: the average other group, whatever its size), from the same resamples as the groups'
intervals (every group resampled in each replicate: its speakers where it has enough, the cluster bootstrap, else its
items within each class), so the contrast's replicate is a contrast of replicates.  A resample in which one of the
groups has no recall for the class (none of its drawn speakers has a clip of it) is left out and counted.

Its two-sided bootstrap p is ``2 · min(share ≤ 0, share ≥ 0)`` of the resamples (with the +1 correction, never 0),
and ``q`` is Benjamini–Hochberg over every contrast of the breakdown (``scipy.stats.false_discovery_control``): with
nine classes and six groups, 54 intervals, about three of which exclude 0 by chance alone.
"""

from __future__ import annotations

import numpy as np

from workbench.analysis.group_resampling import _interval
from workbench.analysis.interval_rule import resamples_kept, thin_note

#: groups above which no contrast is computed (a breakdown by 400 speakers: their resamples are not all kept; the
#: max − min gap and each group's own interval stand)
MAX_CONTRAST_GROUPS = 40
#: the false discovery rate a contrast's q is judged at
FDR = 0.05
#: contrasts given a line each on screen (the others in metrics.json)
CONTRAST_LINES = 12


def keep_draw(draws: dict, key, group: str, values: np.ndarray) -> None:
    """Keep one group's recall resamples of class ``key`` (not the UAR's) in ``draws`` for :func:`recall_vs_rest`, up to
    one past :data:`MAX_CONTRAST_GROUPS` groups a class (a class past it gets no contrasts: memory stays bounded)."""
    if key != "uar" and len(draws[key]) <= MAX_CONTRAST_GROUPS:
        draws[key][group] = values


def recall_vs_rest(draws: dict[str, dict[str, tuple[float, np.ndarray]]], *, level: float = 0.95) -> dict | None:
    """The signed contrasts of a breakdown: ``draws`` is per class ``{group: (observed recall, its resamples)}`` over the
    groups eligible for that class's gap.  ``None`` when no class has three or more groups.

    Returns ``{"against": …, "method": …, "tested": n, "excluding_0": n, "significant": n (q < FDR), "fdr": FDR,
    "contrasts": [{"class", "group", "diff", "lo", "hi", "p", "q", "excludes_0", "resamples": {kept, drawn}}, …]}``."""
    from scipy.stats import false_discovery_control

    rows = []
    for cls, groups in draws.items():
        if not 3 <= len(groups) <= MAX_CONTRAST_GROUPS:
            continue
        names = list(groups)
        point = np.array([groups[n][0] for n in names], dtype=float)
        boot = np.stack([np.asarray(groups[n][1], dtype=float) for n in names])  # (groups, resamples)
        total, boot_total = point.sum(), boot.sum(axis=0)  # NaN in a resample: the contrasts there are left out
        for j, name in enumerate(names):
            rest = (total - point[j]) / (len(names) - 1)
            diffs = boot[j] - (boot_total - boot[j]) / (len(names) - 1)
            bounds = _interval(diffs, level)
            lo, hi = bounds
            kept = diffs[~np.isnan(diffs)]
            p = (min(1 + (kept <= 0).sum(), 1 + (kept >= 0).sum()) * 2 / (1 + len(kept))) if len(kept) else float("nan")
            # its check: an interval on few of its resamples, or of no width (every resample alike), is flagged with it
            note = thin_note(bounds) or ("interval of no width: every resample gave the same contrast" if lo == hi else "")
            rows.append({"class": cls, "group": name, "diff": float(point[j] - rest), "lo": float(lo), "hi": float(hi),
                         "p": float(min(p, 1.0)), "excludes_0": bool(lo > 0 or hi < 0), "note": note,
                         "resamples": resamples_kept(bounds) or {"kept": int(len(kept)), "drawn": int(len(diffs))}})
    if not rows:
        return None
    ps = np.array([r["p"] for r in rows])
    finite = np.isfinite(ps)
    qs = np.full(len(ps), np.nan)
    if finite.any():
        qs[finite] = false_discovery_control(ps[finite], method="bh")
    for r, q in zip(rows, qs):
        r["q"] = float(q)
    return {"against": "the mean recall of the other groups (each weighted alike)",
            "method": (f"{level:.0%} interval from the groups' resamples (their speakers where a group has enough, else "
                       "its items within each class); two-sided bootstrap p, Benjamini–Hochberg q over every contrast "
                       "of the breakdown (scipy.stats.false_discovery_control)"),
            "tested": len(rows), "excluding_0": sum(r["excludes_0"] for r in rows),
            "significant": int(np.nansum(qs < FDR)), "fdr": FDR, "contrasts": rows}


def contrast_lines(contrasts: dict | None, *, limit: int = CONTRAST_LINES) -> list[str]:
    """The screen's lines for :func:`recall_vs_rest`: how many contrasts were tested, and only those whose interval
    excludes 0 (each with its q; one past ``limit`` is counted, all are in metrics.json).  Empty without contrasts."""
    if not contrasts:
        return []
    out = [r for r in contrasts["contrasts"] if r["excludes_0"]]
    head = (f"    recall per class, each group − the mean of the others: {len(out)} of {contrasts['tested']} tested "
            f"exclude 0 (95 % interval), {contrasts['significant']} with Benjamini–Hochberg q < {contrasts['fdr']:g}"
            + ("" if out else "; none shown") + " (all in metrics.json)")
    shown = sorted(out, key=lambda r: (r["q"] if np.isfinite(r["q"]) else 2.0, -abs(r["diff"])))[:limit]
    lines = [head] + [f"      {r['class']}, {r['group']}: {r['diff']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}] q={r['q']:.3f}"
                      + ("" if r["q"] < contrasts["fdr"] else "  (not below the FDR: may be chance)")
                      + (f"  !! {r['note']}" if r.get("note") else "") for r in shown]
    if len(out) > len(shown):
        lines.append(f"      … {len(out) - len(shown)} more excluding 0 in metrics.json")
    return lines
