"""A run's worst cases, explained in one process: which rows, the summary the report reads, its figure.

**Worst**, in one rule that every output states (:func:`select_worst`): when
the run's rows have reference labels (a ``correct`` value), the wrong rows
come first, the most confident first (confidently wrong is the case to
explain); then the other rows, the least confident first.  Without reference
labels: the least confident rows first.  Ties go by id, then variant.  Only
rows with status ``ok`` are cases; ``N`` must be between 1 and their number.

The summary (``explain_worst.json`` in the run folder, with a checksum of its
content, and ``explain_worst.png``) lists each case with its prediction, its
cache entry, every method's checks and flags (IG completeness, stability,
faithfulness against random orders with their interval, randomisation or why
it was skipped) and the top-evidence span; per method, the share of cases
whose map passed every check.  :func:`worst_summary` reads it back, verified,
for the report.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import numpy as np

from workbench.errors import ConfigError, printable
from workbench.explain.figure import fit_title, plain
from workbench.files import strict_json
from workbench.model.weights import identity_mismatch
from workbench.runs.folder import RunFolder
from workbench.serialize import TABLE_MAX_BYTES, loads_json, read_bytes_capped

#: the summary's artifact names (fixed: one summary per run folder, replaced by the next ``--worst``)
WORST_JSON = "explain_worst.json"
WORST_PNG = "explain_worst.png"
RULE_LABELLED = ("wrong predictions first, most confident first (confidently wrong); then the other rows, "
                 "least confident first")
RULE_UNLABELLED = "no reference labels in the run: least confident first"


def select_worst(ok_rows: Any, n: int, *, source: str = "--worst") -> tuple[Any, str]:
    """``(rows, rule)``: the ``n`` worst of the run's ok rows (a DataFrame, in order) and the rule in words.

    Raises :class:`ConfigError` when ``n`` is below 1 or above the number of ok rows (both said, "N of M").
    """
    import pandas as pd

    m = len(ok_rows)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1 or n > m:
        raise ConfigError(f"asks for the {n} worst of {m} scored (status ok) rows; N must be between 1 and {m}.", source=source,
                          fix=f"pass --worst with a count from 1 to {m}." if m else "the run has no scored rows to explain.")
    df = ok_rows.copy()
    correct = df["correct"] if "correct" in df else pd.Series([None] * m, index=df.index)
    labelled = correct.notna()
    wrong = labelled & (correct.astype("boolean").fillna(True) == False)  # noqa: E712 - a nullable boolean column
    conf = pd.to_numeric(df["confidence"], errors="coerce").fillna(0.0)
    df["_group"] = np.where(wrong, 0, 1)
    df["_order"] = np.where(wrong, -conf, conf)
    df["_id"], df["_variant"] = df["id"].astype(str), df["variant"].astype(str)
    df = df.sort_values(["_group", "_order", "_id", "_variant"], kind="mergesort")
    rule = RULE_LABELLED if bool(labelled.any()) else RULE_UNLABELLED
    if n < m:  # the cut inside a tie: which of the tied rows are explained is the id order's choice, said
        last = (df["_group"].iloc[n - 1], df["_order"].iloc[n - 1])
        tied = (df["_group"] == last[0]) & (df["_order"] == last[1])
        inside = int(tied.iloc[:n].sum())
        if int(tied.sum()) > inside:
            rule += (f"; the cut at {n} falls inside a tie of {int(tied.sum())} rows at confidence {abs(float(last[1])):.4g} "
                     f"({inside} taken, {int(tied.sum()) - inside} left out, by id order)")
    return df.head(int(n)).drop(columns=["_group", "_order", "_id", "_variant"]), rule


def _method_record(method: str, data: dict) -> dict:
    """One method's checks from an explanation record, as the summary lists them."""
    att, faith, rand = data.get("attribution") or {}, data.get("faithfulness") or {}, data.get("randomisation") or {}
    checks = att.get("checks") or {}
    comp, stab = checks.get("completeness"), checks.get("stability") or {}
    return {
        "reliable": data.get("reliable"), "problems": data.get("problems") or [],
        "deletion_auc": (faith.get("method") or {}).get("deletion_auc"),
        "insertion_auc": (faith.get("method") or {}).get("insertion_auc"),
        "deletion_auc_random_interval": (faith.get("random") or {}).get("deletion_auc_interval"),
        "insertion_auc_random_interval": (faith.get("random") or {}).get("insertion_auc_interval"),
        "deletion_verdict": faith.get("deletion_verdict"), "insertion_verdict": faith.get("insertion_verdict"),
        "faithfulness_passed": faith.get("passed"),
        "completeness_relative_error": None if comp is None else comp.get("relative_error"),
        "completeness_passed": None if comp is None else comp.get("passed"),
        "stability_passed": stab.get("passed"), "stability_min_spearman": stab.get("min_spearman"),
        "randomisation_passed": rand.get("passed"), "randomisation_skipped": rand.get("skipped"),
        **_check_states(data),
    }


def _check_states(data: dict) -> dict:
    """Which of a map's checks ran (``checks_ran``) and which did not, each with why (``checks_skipped``): a map whose
    randomisation check was skipped was drawn green, "passed every check", though that check never ran."""
    att = data.get("attribution") or {}
    checks = {"faithfulness": data.get("faithfulness"), "randomisation": data.get("randomisation"), **(att.get("checks") or {})}
    ran, skipped = [], {}
    for name, value in checks.items():
        if not isinstance(value, dict):
            skipped[name] = "not run"
        elif value.get("skipped"):
            skipped[name] = str(value["skipped"])
        elif value.get("status") is not None:
            reason = value.get("reason") or value.get("note")
            skipped[name] = str(value["status"]) + (f" ({reason})" if reason else "")
        else:
            ran.append(name)
    return {"checks_ran": ran, "checks_skipped": skipped}


def passed_every_check(method: dict) -> bool:
    """A map that passed its checks with its randomisation check run (a skipped one is no pass)."""
    return bool(method.get("reliable")) and method.get("randomisation_skipped") is None


def case_record(row: dict, record: dict | None, *, entry: str | None, cache: str, error: str | None = None) -> dict:
    """One case of the summary: the row's facts, its cache entry and what was found (or the error that stopped it)."""
    def value(k: str) -> Any:
        v = row.get(k)
        return None if v is None or (isinstance(v, float) and not np.isfinite(v)) else v

    out = {"id": str(row.get("id")), "variant": str(row.get("variant")), "label": value("label"), "emotion": value("emotion"),
           "pred": value("pred"), "confidence": value("confidence"), "correct": value("correct"), "entry": entry, "cache": cache,
           "error": error}
    if record is not None:
        out.update({"target": record.get("target"), "top_evidence": record.get("top_evidence"),
                    "methods": {m: _method_record(m, d) for m, d in (record.get("methods") or {}).items()}})
    return out


def summary_record(cases: list[dict], *, rule: str, n: int, m: int, variant: str | None, settings: dict,
                   warning: str | None, model: dict | None = None) -> dict:
    """The whole summary: the rule, "N of M", each case, and per method how many cases passed every check; ``model``:
    the model that explained them (:func:`model_record`), which the report checks against the run's."""
    methods: dict[str, dict] = {}
    for c in cases:
        for name, d in (c.get("methods") or {}).items():
            s = methods.setdefault(name, {"cases": 0, "reliable": 0, "passed_every_check": 0, "deletion_better_than_random": 0,
                                          "insertion_better_than_random": 0, "randomisation_skipped": 0,
                                          "randomisation_failed": 0, "randomisation_undetermined": 0, "stability_failed": 0, "completeness_failed": 0,
                                          "faithfulness_failed": 0})
            s["cases"] += 1
            s["reliable"] += bool(d["reliable"])  # passed the checks that ran
            s["passed_every_check"] += passed_every_check(d)
            if d["randomisation_skipped"] is not None:  # why, each reason once
                why = s.setdefault("randomisation_skipped_why", [])
                why += [] if str(d["randomisation_skipped"]) in why else [str(d["randomisation_skipped"])]
            s["deletion_better_than_random"] += d["deletion_verdict"] == "better than random"
            s["insertion_better_than_random"] += d["insertion_verdict"] == "better than random"
            s["randomisation_skipped"] += d["randomisation_skipped"] is not None
            s["randomisation_failed"] += d.get("randomisation_passed") is False
            # run but undecided (a constant map: no rank correlation): counted as it is flagged, never as a pass
            s["randomisation_undetermined"] += d.get("randomisation_passed") is None and d["randomisation_skipped"] is None
            s["stability_failed"] += d.get("stability_passed") is False  # IG's UNSTABLE: a red cell says which check failed
            s["completeness_failed"] += d.get("completeness_passed") is False
            # worse than random orders on a curve, or better on neither: the report counted no failure for such a map
            s["faithfulness_failed"] += d.get("faithfulness_passed") is False
    return {"rule": rule, "n": n, "of": m, "showing": f"{n} of the {m} rows the model scored (labelled or not)", "variant": variant, "settings": settings,
            "warning": warning, "failed": sum(c["error"] is not None for c in cases), "methods": methods, "cases": cases,
            **({"model": model} if model else {})}


def model_record(info: Any) -> dict | None:
    """What ``explain_worst.json`` keeps of the model that explained the cases (its info, loaded; or the run's summary
    ``model`` block when every case came from the cache, whose keys hold the run's identity): id, the weights' sha256,
    the identity and the sha256 of each file it covers (a later mismatch with the run's names the file)."""
    if info is None:
        return None
    get = info.get if isinstance(info, dict) else (lambda k: getattr(info, k, None))  # noqa: E731
    return {k: get(k) for k in ("id", "checksum", "identity", "identity_files")}


def write_summary(rf: RunFolder, summary: dict, fig: Any) -> list[str]:
    """Write ``explain_worst.json`` (with the sha256 of its content) and ``explain_worst.png`` into the run folder."""
    body = json.loads(strict_json(summary, indent=None))
    env = {**body, "sha256": hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()}
    # the earlier summary goes before the new figure: stopped between the two, the report showed this figure under the
    # earlier call's cases and checks; now it finds no summary (worst_summary: None) until the rerun
    rf.remove_outputs(re.compile(rf"^{re.escape(WORST_JSON)}$"))
    rf.write_figure(WORST_PNG, fig, meta={"explain_worst": summary["showing"]})
    text = strict_json(env)
    rf.write_artifact(WORST_JSON, lambda f: f.write(text), text=True, meta={"explain_worst": summary["showing"]})
    return [WORST_JSON, WORST_PNG]


def passed_cell(d: dict) -> str:
    """The explained-worst table's "passed every check" cell: a map whose randomisation check was skipped passed only
    the checks that ran, said with why (it was counted as passing every check); an older summary without the count
    says what it has."""
    skipped = d.get("randomisation_skipped") or 0
    if "passed_every_check" not in d:
        return f"{d['reliable']} of {d['cases']}" + (f" passed the checks that ran (randomisation skipped for {skipped})" if skipped else "")
    cell = f"{d['passed_every_check']} of {d['cases']}"
    if skipped:
        why = "; ".join(d.get("randomisation_skipped_why") or []) or "not run"
        cell += f"; {d['reliable']} passed the checks that ran, randomisation SKIPPED for {skipped} ({why}): not a pass"
    return cell


def summary_lines(summary: dict) -> list[str]:
    """The screen's lines per method: how many maps passed every check, how many only the checks that ran (which
    were skipped, and why); a skipped check is never counted as passed."""
    lines = []
    for name, m in sorted(summary["methods"].items()):
        every, ran = m.get("passed_every_check", 0), m.get("reliable", 0)
        line = f"  {name}: {every} of {m['cases']} maps passed every check"
        if m.get("randomisation_skipped"):
            why = "; ".join(m.get("randomisation_skipped_why") or []) or "not run"
            line += (f"; {ran} passed the checks that ran, the model randomisation check SKIPPED for "
                     f"{m['randomisation_skipped']} ({why}): skipped is not passed")
        lines.append(line)
    return lines


def _canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def worst_summary(run_dir: Any) -> dict | None:
    """The run's last ``explain --worst`` summary (``explain_worst.json``), checked; ``None`` when there is none.

    For the report: ``rule``, ``showing`` ("N of the M rows the model scored (labelled or not)"), ``cases`` (each with its methods' checks and
    flags), ``methods`` (per method: cases, reliable, better than random …), ``warning``, and ``figure``: the
    path of ``explain_worst.png``.  A summary whose checksum does not match its content (edited, damaged) or a
    link raises :class:`ConfigError` rather than being shown.
    """
    rf = RunFolder(run_dir)
    p = rf.path / WORST_JSON
    if not p.exists() and not p.is_symlink():
        return None
    problem = "is a link" if p.is_symlink() else None
    if problem is None:
        try:
            env = loads_json(read_bytes_capped(p, max_bytes=TABLE_MAX_BYTES, what=WORST_JSON, decompress=False))
            body = {k: v for k, v in env.items() if k != "sha256"}
            if hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest() != env.get("sha256"):
                problem = "does not match its checksum (edited or damaged)"
        except ConfigError as exc:
            problem = exc.message.rstrip(".")
        except (OSError, ValueError, AttributeError) as exc:
            problem = f"cannot be read ({exc})"
    if problem is None and (other := identity_mismatch(rf.summary.get("model"), body.get("model"), ("explained with", "the run's"))):
        # explained with another model than the run's (--other-model, or the run's checkpoint files changed since)
        problem = f"was made with another model than the run's ({printable(other)})"
    if problem:
        raise ConfigError(f"{WORST_JSON} {problem}.", source=str(rf.path), fix="run `workbench explain RUN --worst N` again.")
    png = rf.path / WORST_PNG
    return {**body, "figure": str(png) if png.is_file() and not png.is_symlink() else None}


def _no_better_than_random(method: dict) -> bool:
    """Whether neither the insertion nor the deletion curve of a map beat random orders (the map passed its checks, but
    its ranking of the audio did no better than chance: green there read as a pass while the cell said "≈ random")."""
    return "better than random" not in (method.get("insertion_verdict"), method.get("deletion_verdict"))


def plot_worst(summary: dict, ax: Any = None):
    """One row per case, one column per method: green = the map passed every check, blue = passed the checks that ran
    with its model randomisation check skipped (not a pass), amber = passed them but neither curve beat random orders,
    red = flagged, grey = failed/not run.

    Each cell says the insertion and deletion verdicts against random orders; the row label gives the id,
    label → prediction and confidence.  Returns the figure.
    """
    import matplotlib

    if "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    cases = summary["cases"]
    methods = sorted(summary["methods"]) or ["(none)"]
    own = ax is None
    if own:
        _, ax = plt.subplots(figsize=(max(9.0, 4 + 3.2 * len(methods)), 1.6 + 0.45 * len(cases)), layout="constrained")
    grid = np.full((len(cases), len(methods)), 2.0)
    for i, c in enumerate(cases):
        for j, m in enumerate(methods):
            d = (c.get("methods") or {}).get(m)
            if d is not None:
                grid[i, j] = (1.0 if not d["reliable"] else 3.0 if _no_better_than_random(d)
                              else 4.0 if d.get("randomisation_skipped") is not None else 0.0)
                short = {"better than random": "better", "worse than random": "WORSE", "indistinguishable from random": "≈ random"}
                text = f"ins {short.get(d['insertion_verdict'], '?')} · del {short.get(d['deletion_verdict'], '?')}"
                if d.get("randomisation_passed") is False:
                    text += " · FAILS randomisation"
                elif d.get("randomisation_passed") is None and d.get("randomisation_skipped") is None:
                    text += " · randomisation UNDETERMINED"
                elif d.get("randomisation_skipped") is not None:
                    text += " · randomisation SKIPPED"
                if d.get("stability_passed") is False:
                    text += " · UNSTABLE"
                if d.get("completeness_passed") is False:
                    text += " · UNRELIABLE (completeness)"
                ax.text(j, i, plain(text), ha="center", va="center", fontsize=7)
            elif c.get("error"):
                ax.text(j, i, "failed", ha="center", va="center", fontsize=7)
    ax.imshow(grid, cmap=ListedColormap(["#b7e4c7", "#f4a3a3", "#dddddd", "#ffe08a", "#a9cce3"]), vmin=0, vmax=4, aspect="auto")
    ax.set_xticks(range(len(methods)), [plain(m) for m in methods], fontsize=8)
    labels = [f"{c['id']} [{c['variant']}] {c.get('emotion') or c.get('label') or '?'} → {c.get('pred')} "
              f"({c['confidence']:.2f})" if c.get("confidence") is not None else f"{c['id']} [{c['variant']}]" for c in cases]
    ax.set_yticks(range(len(cases)), [plain(s[:60]) for s in labels], fontsize=7)
    head = (f"worst {summary['showing']} · {summary['rule']} · green = passed every check (model randomisation included), "
            "blue = passed the checks that ran, model randomisation SKIPPED (not a pass), amber = passed them but neither "
            "curve beats random orders, red = flagged")
    skipped = sum(m.get("randomisation_skipped", 0) for m in summary["methods"].values())
    if skipped:  # blue means "passed the checks that ran": say which one did not, and why
        why = "; ".join(dict.fromkeys(w for m in summary["methods"].values() for w in m.get("randomisation_skipped_why") or []))
        head += (f" · ⚠ model randomisation check skipped for {skipped} of {sum(m['cases'] for m in summary['methods'].values())} maps"
                 + (f" ({why})" if why else ""))
    # the warning wrapped on its own lines: cut with the heading's four, a head's random-weights warning ended
    # "…its…" on the demo run (walk15), the flag itself cut short
    parts = [head, *(["⚠ " + summary["warning"]] if summary.get("warning") else [])]
    color = "crimson" if summary.get("warning") else "black"
    if own:  # the heading spans the figure, wrapped to its width
        width = ax.figure.get_figwidth() * 0.95
        ax.figure.suptitle("\n".join(fit_title(p, fontsize=8, width_in=width) for p in parts), fontsize=8, x=0.01, ha="left", color=color)
    else:  # a caller's axes: wrapped to the axes' own width
        width = ax.get_position().width * ax.figure.get_figwidth()
        ax.set_title("\n".join(fit_title(p, fontsize=8, width_in=width) for p in parts), fontsize=8, loc="left", color=color)
    return ax.figure
