"""The speech + text fusion section's HTML, from a fusion result's dict (``FusionResult.to_dict()`` or ``fusion.json``)."""

from __future__ import annotations

from workbench.analysis.stats import p_value_text
from workbench.model.network import RANDOM_WEIGHTS_BANNER
from workbench.views.html import Markup, code, esc, table_html

FUSION_HEADING = "<h2>Speech + text fusion</h2>"


def interval(value, ci, signed: bool = False) -> Markup:
    """``value [lo, hi]`` to three decimals (signed with ``signed``), a dash for a missing or NaN figure."""
    f = (lambda v: esc("—") if v is None or v != v else esc(f"{v:+.3f}" if signed else f"{v:.3f}"))  # noqa: E731
    lo, hi = (ci or (None, None))[:2]
    return Markup(f"{f(value)} [{f(lo)}, {f(hi)}]")


def fusion_html(d: dict, *, reused: bool = False, heading: bool = True) -> Markup:
    """The fusion section's text and table from a fusion result's dict (``FusionResult.to_dict()`` or ``fusion.json``),
    under its heading unless ``heading=False``."""
    parts = [FUSION_HEADING] if heading else []
    if d.get("random_weights") or d.get("warning"):  # a notebook shows this section without the report's header banner
        parts.append(f"<p><b>⚠ {esc(d.get('warning') or RANDOM_WEIGHTS_BANNER)}</b> The head, speech, early and late rows come "
                     "from it; only the text row does not.</p>")
    parts += [f"<p><b>⚠ {esc(w)}</b> The head and late rows use its scores.</p>" for w in d.get("training_overlap") or []]
    parts += [f"<p><b>Warning:</b> {esc(w)}</p>" for w in d.get("warnings", [])]
    parts += [f"<p><b>Check failed:</b> {esc(c)}</p>" for c in d.get("checks", [])]
    if reused:
        parts.append("<p><i>Reused from the run folder's <code>fusion.json</code>: computed on these same results and embeddings, "
                     "with the same text model, folds, seed and resamples.</i></p>")
    parts.append(f"<p>{d['n_items']} items, {d['n_speakers']} speakers, {len(d['classes'])} classes ({esc(', '.join(d['classes']))}); "
                 f"{d['folds']}-fold speaker-independent cross-validation; chance UAR {d['chance_uar']:.3f}; text model {code(d['text_model'])}.</p>")
    rows = []
    for m, v in d["metrics"].items():
        c = d.get("vs_speech", {}).get(m)
        vs = ("—", "—", "—") if c is None else (
            interval(c["delta_uar"][0], c["delta_uar"][1:], signed=True), esc("—") if c["mcnemar_p"] is None else esc(p_value_text(c["mcnemar_p"])), Markup(f"{c['fixed']} / {c['broke']}"))
        rows.append((m, interval(v["uar"], v["uar_ci"]), interval(v["wa"], v["wa_ci"]), *vs))
    parts.append(table_html(["method", "UAR [95% CI]", "WA [95% CI]", "ΔUAR vs speech [95% CI]", "McNemar p", "fixed / broke"], rows))
    if d.get("excluded"):
        parts.append("<p>Excluded: " + "; ".join(f"{e['count']} item(s) with {esc(reason)}" for reason, e in d["excluded"].items()) + ".</p>")
    parts.append(METHODS_HTML)
    weights = [float(w) for w in d["late_weights"]]
    alone = ("; every fold chose the text alone, so the late row is the text row" if weights and not any(weights) else
             "; every fold chose the head alone, so the late row is the head row" if weights and all(w == 1 for w in weights) else "")
    parts.append(f"<p>Late-fusion head weight w per fold (0: text alone, 1: head alone): "
                 f"{esc(', '.join(f'{w:.1f}' + (f' (tied up to {t[-1]:.1f}, the smallest taken)' if t else '') for w, t in zip(weights, d.get('late_weight_ties') or [[]] * len(weights))))}{alone}.</p>")
    return Markup("\n".join(parts))


#: what each row of the table is: a newcomer met "head", "speech", "early" and "late" with no word on any of them
METHODS_HTML = ("<p>The rows: <b>head</b> is the checkpoint's own classifier, its top class among these classes "
                "(no training); <b>speech</b> a logistic-regression probe on the model's utterance embeddings, trained "
                "in each fold (the baseline every Δ is against); <b>text</b> the same probe on the text model's "
                "embeddings of each item's transcript; <b>early</b> the probe on both embeddings joined; <b>late</b> "
                "w · head + (1 − w) · text probabilities, w chosen on each fold's training speakers.</p>"
                # the last three columns had no word either: "fixed / broke 27 / 1" read as a count of fixes or of bugs
                "<p>Each row against <b>speech</b>, on the same items: <b>ΔUAR</b> its UAR minus speech's, with a "
                "paired bootstrap interval; <b>fixed / broke</b> the items it labels right where speech is wrong, and "
                "wrong where speech is right; <b>McNemar p</b> the test of those two counts: clustered over the speakers "
                "(Durkalski et al. 2003) where the intervals resample speakers, else the exact test, which treats items "
                "as independent.</p>")
