"""Per-group intervals keep the group's class set; small groups are marked; disparities have intervals."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest

from workbench.analysis.groups import MIN_ITEMS, analyse_groups
from workbench.labels import LABEL_KEYS
from workbench.analysis.metrics import breakdown_table, evaluate, macro_f1, plot_breakdown, uar, wa

plt = pytest.importorskip("matplotlib.pyplot")

CLASSES = ["angry", "disgusted", "fearful", "happy", "neutral", "sad"]  # LABEL_KEYS order


def _frame(rows):
    out = []
    for i, (spk, true, pred) in enumerate(rows):
        scores = {f"score_{k}": (0.9 if k == pred else 0.1 / 8) for k in LABEL_KEYS}
        out.append({"id": f"i{i}", "variant": "raw", "status": "ok", "emotion": true, "pred": pred, "confidence": 0.9,
                    "speaker": spk, **scores})
    return pd.DataFrame(out)


def metrics_page(monkeypatch, run, n_boot: int = 200) -> str:
    """The report's metrics section of ``run`` by speaker, as HTML from its "by speaker" table on."""
    from workbench.views import reporting

    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    reporting.metrics_section(run, by=["speaker"], n_boot=n_boot)
    return shown[0].split("by speaker")[1]


def test_a_rare_class_is_in_every_resample_so_the_interval_keeps_the_class_set():
    # one 'angry' item, right; five items of each other class, all wrong: UAR is 1/6 whatever is resampled
    rows = [("s09", "angry", "angry")] + [("s09", c, "angry") for c in CLASSES[1:] for _ in range(5)]
    table = breakdown_table(_frame(rows), "speaker", n_boot=300)
    row = table.iloc[0]
    assert row["uar"] == pytest.approx(1 / 6)
    # an item bootstrap drops 'angry' in ~37 % of resamples and reports UAR 0 there: lo would be 0.0
    assert row["uar_lo"] == pytest.approx(1 / 6) and row["uar_hi"] == pytest.approx(1 / 6)
    assert row["too_small"] and "angry (1 item)" in row["note"]


def test_point_values_match_the_run_metrics():
    rng = np.random.default_rng(1)
    rows = []
    for spk in ("a", "b", "c"):
        for i in range(90):
            t = CLASSES[i % 6]
            p = t if rng.random() < 0.6 else CLASSES[int(rng.integers(0, 6))] if rng.random() < 0.8 else "other"
            rows.append((spk, t, p))
    df = _frame(rows)
    table = breakdown_table(df, "speaker", n_boot=200).set_index("group")
    for spk in ("a", "b", "c"):
        sub = df[df["speaker"] == spk]
        t, p = sub["emotion"].to_numpy(), sub["pred"].to_numpy()
        assert table.loc[spk, "wa"] == pytest.approx(wa(t, p))
        assert table.loc[spk, "uar"] == pytest.approx(uar(t, p, CLASSES))
        assert table.loc[spk, "macro_f1"] == pytest.approx(macro_f1(t, p, CLASSES))
        assert table.loc[spk, "uar_lo"] <= table.loc[spk, "uar"] <= table.loc[spk, "uar_hi"]
        assert not table.loc[spk, "too_small"] and table.loc[spk, "note"] == ""


def test_a_group_without_a_class_is_noted_and_left_out_of_the_uar_gap():
    rows = [("full1", c, c) for c in CLASSES for _ in range(6)]
    rows += [("full2", c, c if k < 3 else "angry") for c in CLASSES for k in range(6)]
    rows += [("nodisgust", c, c) for c in CLASSES if c != "disgusted" for _ in range(6)]
    df = _frame(rows)
    rep = evaluate(df, n_boot=20)
    assert "no disgusted items" in rep.breakdowns["speaker"]["nodisgust"]["note"]
    assert "no disgusted items" in rep.render()
    ga = analyse_groups(df["emotion"], df["pred"], df["speaker"], CLASSES, n_boot=200)
    gap = ga.disparities["uar"]
    assert gap["groups"] == ["full1", "full2"] and "nodisgust" in ga.disparities["excluded"]
    full2_uar = (1 * 6 / 6 + 5 * 3 / 6) / 6  # angry all right (its wrong answers are 'angry'), others half right
    assert gap["gap"] == pytest.approx(1 - full2_uar)
    assert gap["lo"] <= gap["gap"] <= gap["hi"]
    # per-class gap: disgust recall is 1 (full1) vs 0.5 (full2); nodisgust has none and does not count
    d = ga.disparities["recall"]["disgusted"]
    assert d["gap"] == pytest.approx(0.5) and set(d["groups"]) == {"full1", "full2"}


def test_a_too_small_group_is_named_not_plotted():
    rows = [("big", c, c) for c in CLASSES[:4] for _ in range(8)] + [("tiny", c, c) for c in CLASSES[:4]]
    df = _frame(rows)
    table = breakdown_table(df, "speaker", n_boot=50).set_index("group")
    assert table.loc["tiny", "too_small"] and f"(< {MIN_ITEMS})" in table.loc["tiny", "note"]
    assert not table.loc["big", "too_small"]
    assert "too small" in evaluate(df, n_boot=20).render()
    fig, ax = plt.subplots()
    plot_breakdown(df, "speaker", n_boot=50, ax=ax)
    (segs,) = [c for c in ax.collections if hasattr(c, "get_segments")][:1]
    assert len(segs.get_segments()) == 1  # only 'big' has an interval drawn
    assert any("too few items" in t.get_text() for t in ax.texts)
    plt.close(fig)


def test_group_names_are_plain_text_in_the_figure():
    rows = [("$\\alpha$", c, c) for c in CLASSES[:4] for _ in range(8)]
    fig, ax = plt.subplots()
    plot_breakdown(_frame(rows), "speaker", n_boot=20, ax=ax)
    fig.canvas.draw()
    # every item right: the interval is [1, 1], flagged zero-width, so the label carries the note mark
    assert [t.get_text() for t in ax.get_yticklabels()] == ["\\$\\alpha\\$ (n=32) *"]
    plt.close(fig)


def test_run_metrics_reports_the_uar_gap_with_its_interval(tmp_path):
    from test_calibration_cli import _run_folder
    from workbench.analysis.metrics import run_metrics

    rows = [("good", c, c) for c in CLASSES for _ in range(6)]
    rows += [("poor", c, c if k < 2 else "other") for c in CLASSES for k in range(6)]
    _run_folder(tmp_path / "run", _frame(rows))
    rep = run_metrics(tmp_path / "run", by=("speaker",), figures=False, n_boot=200)["raw"]
    gap = rep.disparities["speaker"]["uar"]
    assert gap["gap"] == pytest.approx(1 - 2 / 6) and gap["highest"] == "good" and gap["lowest"] == "poor"
    assert gap["lo"] <= gap["gap"] <= gap["hi"]
    assert "UAR gap 0.667" in rep.render()


def test_a_groups_intervals_are_the_figures_on_screen_in_the_json_and_in_the_report(tmp_path, monkeypatch):
    import json

    from test_calibration_cli import _run_folder
    from workbench.analysis.metrics import run_metrics
    from workbench.views import reporting

    rng = np.random.default_rng(3)
    rows = [(spk, c, c if rng.random() < acc else CLASSES[int(rng.integers(0, 6))])
            for spk, acc in (("a", 0.8), ("b", 0.4)) for c in CLASSES for _ in range(6)]
    _run_folder(tmp_path / "run", _frame(rows))
    rep = run_metrics(tmp_path / "run", by=("speaker",), figures=False, n_boot=200)["raw"]
    drawn = breakdown_table(_frame(rows), "speaker", n_boot=200).set_index("group")  # what plot_breakdown draws
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["raw"]["breakdowns"]["speaker"]
    text = rep.render()
    for g in ("a", "b"):
        d = rep.breakdowns["speaker"][g]
        assert not d["too_small"]
        for m in ("wa", "uar"):
            lo, hi = drawn.loc[g, f"{m}_lo"], drawn.loc[g, f"{m}_hi"]
            assert lo <= d[m] <= hi and lo < hi
            assert d[f"{m}_ci"] == pytest.approx([lo, hi]) and saved[g][f"{m}_ci"] == pytest.approx([lo, hi])
            assert f"{m.upper()} {d[m]:.3f} [{lo:.3f}, {hi:.3f}]" in text
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    reporting.metrics_section(tmp_path / "run", by=["speaker"], n_boot=200)
    assert "<th>95% CI</th>" in shown[0].split("by speaker")[1]
    for g in ("a", "b"):
        lo, hi = drawn.loc[g, "uar_lo"], drawn.loc[g, "uar_hi"]
        assert f"[{lo:.3f}, {hi:.3f}]" in shown[0].split("by speaker")[1]


def test_the_report_says_the_uar_gap_and_the_groups_left_out_of_it_as_metrics_does(tmp_path, monkeypatch):
    """`metrics` printed "UAR gap 0.062 [0.000, 0.250] (female − male)" under a breakdown; the report's table of the same
    groups had no gap, nor the groups left out of it."""
    import html

    from test_calibration_cli import _run_folder
    from workbench.analysis.groups import describe_gap
    import json

    from workbench.analysis.metrics import run_metrics

    rng = np.random.default_rng(3)
    rows = [(spk, c, c if rng.random() < acc else CLASSES[int(rng.integers(0, 6))])
            for spk, acc, k in (("a", 0.8, 6), ("b", 0.4, 6), ("c", 0.5, 1)) for c in CLASSES for _ in range(k)]
    _run_folder(tmp_path / "run", _frame(rows))
    rep = run_metrics(tmp_path / "run", by=("speaker",), figures=False, n_boot=200)["raw"]
    page = html.unescape(metrics_page(monkeypatch, tmp_path / "run"))
    assert describe_gap(rep.disparities["speaker"]["uar"]) in page and "UAR gap" in rep.render()
    assert "left out of the gap: c (too small" in page


def test_the_report_names_why_each_group_is_left_out_of_a_gap_it_could_not_measure(tmp_path, monkeypatch):
    """The demo report's 'by gender' showed female and male of 22 items each, then 'UAR gap: not measured (0 eligible
    group(s); a gap needs two)' with no why; `metrics` printed 'left out of the gap: female (no surprised items …)'."""
    import html

    from test_calibration_cli import _run_folder

    rows = [(spk, c, c) for spk in ("a", "b") for c in CLASSES[:-1] for _ in range(5)] + [("c", CLASSES[-1], CLASSES[-1])] * 3
    _run_folder(tmp_path / "run", _frame(rows))
    page = html.unescape(metrics_page(monkeypatch, tmp_path / "run", n_boot=50))
    assert "UAR gap: not measured" in page, page
    assert f"left out of the gap: a (no {CLASSES[-1]} items" in page and f"b (no {CLASSES[-1]} items" in page, page


def test_the_star_after_a_group_label_is_explained_under_the_figure():
    noted = [(f"s{k}", c, c) for k in range(8) for c in CLASSES[:2] for _ in range(3)]  # 8 small groups, each with a note
    fig, ax = plt.subplots()
    plot_breakdown(_frame(noted), "speaker", n_boot=20, ax=ax)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert all(label.endswith(" *") for label in labels)
    notes = breakdown_table(_frame(noted), "speaker", n_boot=20).set_index("group")["note"]
    (foot,) = [t.get_text() for t in ax.texts if t.get_text().startswith("* ")]
    shown = [g for g in notes.index if f"{g}: " in foot]
    assert len(shown) < len(notes) and f"… and {len(notes) - len(shown)} more of the {len(notes)} noted groups" in foot
    assert all(notes[g].split(";")[0] in foot.replace("\n", " ") for g in shown)
    plt.close(fig)
    clean = [(spk, c, c if k else CLASSES[(i + 1) % 6]) for spk in ("a", "b") for i, c in enumerate(CLASSES) for k in range(6)]
    fig, ax = plt.subplots()
    plot_breakdown(_frame(clean), "speaker", n_boot=50, ax=ax)
    assert not any(t.get_text().endswith(" *") for t in ax.get_yticklabels())
    assert not any(t.get_text().startswith("* ") for t in ax.texts)  # no note, no star, no footnote
    plt.close(fig)


def _speakers(n_speakers: int, seed: int = 0):
    """n speakers with long-ish names, 24 items each (every class 4 times: too small, 'too few items to say'), except
    every third speaker with 36 items (6 per class), which is drawn as a number."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_speakers):
        per = 6 if k % 3 == 0 else 4
        for c in CLASSES:
            rows += [(f"{'FM'[k % 2]}{k:02d}_session{k % 5}_spk", c, c if rng.random() < 0.6 else CLASSES[0]) for _ in range(per)]
    return _frame(rows)


def _overlaps(fig, texts):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(r)) for t in texts if t.get_text()]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]


@pytest.mark.parametrize("n_speakers", [20, 40])
def test_many_speakers_labels_never_overlap_and_every_row_is_inside_the_frame(n_speakers):
    """Seen in a walkthrough: 20-40 speakers' labels drawn over each other on a notebook's axes, and the last rows
    (too small, text only) sat on the frame's edge."""
    df = _speakers(n_speakers)
    for own in (True, False):
        if own:
            fig = plot_breakdown(df, "speaker", n_boot=20)
            ax = fig.axes[0]
        else:
            fig, ax = plt.subplots(figsize=(6.5, 5))
            plot_breakdown(df, "speaker", n_boot=20, ax=ax)
        labels = [t for t in ax.get_yticklabels() if t.get_text()]
        assert _overlaps(fig, labels) == [] and _overlaps(fig, [t for t in ax.texts if t.get_text() == "too few items to say"]) == []
        assert min(t.get_fontsize() for t in labels) >= 6  # small, but readable
        bottom, top = ax.get_ylim()
        assert bottom >= n_speakers - 0.5 and top <= -0.5  # every row, the last too-small one included, inside the frame
        if own:  # a figure of its own grows with the groups: every one named at 9 pt
            assert len(labels) == n_speakers and {t.get_fontsize() for t in labels} == {9}
        elif len(labels) < n_speakers:  # a small axes names one row in k, and says so
            assert f"of the {n_speakers} groups labelled" in ax.get_xlabel()
        plt.close(fig)


def test_a_zero_width_interval_is_said_to_show_no_uncertainty_not_to_measure_nothing():
    """0 right of 32 is a measurement (an exact interval reaches 0.109); only its bootstrap interval collapses. The
    words said the figure 'measures nothing'."""
    from workbench.analysis.groups import zero_width_note

    note = zero_width_note(0.0, 0.0, 32)
    assert "measures nothing" not in note and "no uncertainty" in note and "32 item(s)" in note
    assert zero_width_note(0.1, 0.3, 32) == ""


def test_a_group_all_wrong_is_not_said_to_be_beyond_resampling():
    """20 items of a speaker, all wrong: every resample gives WA 0, yet the resamples do vary (other items, other
    classes). The note said "resampling cannot vary it", a claim that holds only for one item per class."""
    classes = ["angry", "happy", "neutral", "sad"]
    y_true = [c for c in classes for _ in range(5)] * 2  # 20 items a speaker: not too small to show its figures
    y_pred = ["disgusted"] * 20 + y_true[20:]
    groups = ["spk1"] * 20 + ["spk2"] * 20
    table = analyse_groups(y_true, y_pred, groups, classes, by="speaker", n_boot=200).table.set_index("group")
    note = table.loc["spk1", "note"]
    assert "cannot vary" not in note
    assert "zero-width interval (WA, UAR) from 20 item(s): every resample gives the same value" in note


def test_a_misspelt_breakdown_column_is_refused_with_the_closest_one_named():
    """`metrics RUN --by spekaer` listed the run's columns but, unlike a misspelt option or choice, named no near miss."""
    from workbench.analysis.groups import check_breakdown_columns
    from workbench.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        check_breakdown_columns(["spekaer", "gender"], ["id", "label", "emotion", "speaker", "gender"])
    assert "'spekaer': did you mean 'speaker'?" in e.value.message and "'gender'" not in e.value.message.split('by')[1].split(':')[0]
    with pytest.raises(ConfigError) as e:
        check_breakdown_columns(["zzz"], ["id", "speaker"])
    assert "did you mean" not in e.value.message


def test_a_thin_class_is_named_with_its_count_in_brackets():
    """'too small: fewer than 5 items of sad 4' (listeners' bands, metrics --by) read as a class called 'sad 4'."""
    from workbench.analysis.groups import small_group_reason

    assert small_group_reason({"angry": 9, "sad": 4, "happy": 1, "neutral": 9}) == \
        "fewer than 5 items of sad (4 items), happy (1 item)"


def test_a_group_at_chance_or_below_its_majority_baseline_is_flagged_on_screen_in_the_json_in_the_figure_and_report(
        tmp_path, monkeypatch):
    """`metrics --by gender` printed "female WA 0.000 [0.000, 0.000] UAR 0.000 [0.000, 0.000] (n=22)" with no flag, while
    the same figures over the whole run said BELOW CHANCE and BELOW THE MAJORITY BASELINE.  Each shown group now carries
    the headline's two baseline checks (its own chance over the classes it has, its own largest class) wherever it is
    shown; a group that clears both carries neither; the figures are sklearn's."""
    import json

    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    from test_calibration_cli import _run_folder
    from workbench.analysis.metrics import run_metrics

    classes = ["angry", "happy", "neutral", "sad"]
    # "good": 10 items of each class, 9 right; "guess": 14 neutral and 6 each of the rest, always answered with the
    # next class along (never right): WA 0 against its majority 14/32, UAR 0 against chance 0.25
    rows = [("good", c, c if k < 9 else classes[(i + 1) % 4]) for i, c in enumerate(classes) for k in range(10)]
    rows += [("guess", c, classes[(i + 1) % 4]) for i, c in enumerate(classes) for _ in range(14 if c == "neutral" else 6)]
    df = _frame(rows)
    table = analyse_groups(df["emotion"], df["pred"], df["speaker"], classes, by="speaker", n_boot=200).table.set_index("group")
    for g in ("good", "guess"):
        sub = df[df["speaker"] == g]
        assert table.loc[g, "wa"] == pytest.approx(accuracy_score(sub["emotion"], sub["pred"]))
        assert table.loc[g, "uar"] == pytest.approx(balanced_accuracy_score(sub["emotion"], sub["pred"]))
    wa_flag = "WA BELOW THE MAJORITY BASELINE, interval and all: always answering neutral scores 0.438 (14/32)"
    uar_flag = "UAR BELOW CHANCE, interval and all (chance 0.250 over 4 classes)"
    assert table.loc["guess", "wa_majority"] == wa_flag and table.loc["guess", "uar_chance"] == uar_flag
    assert wa_flag in table.loc["guess", "note"] and uar_flag in table.loc["guess", "note"]
    assert table.loc["good", "wa_majority"] == table.loc["good", "uar_chance"] == "" and "BELOW" not in table.loc["good", "note"]

    _run_folder(tmp_path / "run", df)
    rep = run_metrics(tmp_path / "run", by=("speaker",), figures=True, n_boot=200)["raw"]
    line = next(ln for ln in rep.render().splitlines() if "by speaker" in ln)
    assert wa_flag in line.split("guess")[1] and uar_flag in line.split("guess")[1] and "BELOW" not in line.split("guess")[0]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["raw"]["breakdowns"]["speaker"]
    assert saved["guess"]["wa_majority"] == wa_flag and saved["guess"]["uar_chance"] == uar_flag
    assert uar_flag in saved["guess"]["note"] and "wa_majority" not in saved["good"]
    fig, ax = plt.subplots()  # the figure marks the group and spells its note out underneath
    plot_breakdown(df, "speaker", n_boot=200, ax=ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["good (n=40)", "guess (n=32) *"]
    foot = " ".join(" ".join(t.get_text().split()) for t in ax.texts)
    assert wa_flag in foot and uar_flag in foot
    plt.close(fig)
    page = metrics_page(monkeypatch, tmp_path / "run")
    assert wa_flag in page and uar_flag in page


def test_a_report_tables_a_breakdowns_largest_groups_and_says_how_many_more_there_are(tmp_path, monkeypatch):
    """A run of one clip per speaker tabled every speaker in the report page (20,000 rows) and listed every one of them
    in the gap's left-out paragraph: the page shows the largest groups (REPORT_GROUPS) and says the rest are in metrics.json."""
    import html

    from test_calibration_cli import _run_folder
    from workbench.analysis import metrics_groups

    monkeypatch.setattr(metrics_groups.largest_groups, "__defaults__", (5,))
    rows = [(f"s{i:03d}", c, c) for i in range(30) for c in CLASSES[: 1 + i % 3]]  # speakers of 1–3 clips
    rows += [("big", c, c) for c in CLASSES for _ in range(4)]
    _run_folder(tmp_path / "run", _frame(rows))
    page = html.unescape(metrics_page(monkeypatch, tmp_path / "run", n_boot=50))
    # ten speakers of 3 clips tie for the last four places: which were tabled is the breakdown's order, and the page says so
    assert ("(the 5 largest of its 31 groups (6 more of 3 clips each, as large as the last tabled, left out: equal sizes are "
            "taken in the breakdown's order); metrics.json has them all)") in page
    table = page.split("</table>")[0]
    assert table.count("<tr>") == 1 + 5 and "<td>big</td>" in table  # the header and the five largest, the largest among them
    assert "more groups (all in metrics.json)" in page and page.count("(too small") <= 20


def test_a_two_group_breakdown_prints_each_classs_signed_recall_gap_and_past_the_limit_only_those_excluding_0(tmp_path):
    """prov17: the per-class recall gaps' signed intervals of two groups were in metrics.json only; the screen printed
    the UAR gap alone.  Now one line per class (its note flagged), or past the limit only the classes whose interval
    excludes 0, saying so."""
    from test_calibration_cli import _run_folder

    from workbench.analysis.groups import recall_gap_lines
    from workbench.analysis.metrics import run_metrics

    # f recalls every angry clip, m none of them: angry's gap excludes 0; sad is recalled alike in both
    rows = [(f"{g}{s}", "angry", "angry" if g == "f" else "sad") for g in "fm" for s in range(6) for _ in range(3)]
    rows += [(f"{g}{s}", "sad", "sad" if k else "angry") for g in "fm" for s in range(6) for k in range(3)]
    frame = _frame(rows)
    frame["gender"] = frame["speaker"].str[0]
    _run_folder(tmp_path / "run", frame)
    rep = run_metrics(tmp_path / "run", by=("gender",), figures=False, n_boot=200)["raw"]
    text = rep.render()
    assert "recall gaps per class, signed f − m:" in text, text
    angry = next(ln for ln in text.splitlines() if ln.strip().startswith("angry: +1.000"))
    assert "excludes 0" in angry and "!! zero-width" in angry  # 1 − 0 in every resample: an interval of no width, flagged
    assert "includes 0" in next(ln for ln in text.splitlines() if ln.strip().startswith("sad: "))
    disp = rep.disparities["gender"]
    assert disp["recall"]["angry"]["signed"]["excludes_0"]  # what the screen says is what metrics.json holds
    short = recall_gap_lines(disp, limit=1)  # more classes than the limit: those that exclude 0 only, said so
    assert "only the 1 of 2 classes whose interval excludes 0" in short[0] and "angry: +1.000" in short[1] and "sad:" not in "".join(short)
    assert recall_gap_lines({"recall": {"angry": {"gap": 0.5, "by_construction": "…"}}}) == []  # three groups: nothing


def test_three_groups_give_each_groups_signed_recall_gap_against_the_rest_with_bh_q(tmp_path):
    """prov18: with three or more groups a class's recall gap was max − min alone (≥ 0 by construction, its interval never
    holds 0): which group differs, and whether by chance, was not said.  Each group − the mean of the others now has a
    speaker-resampled interval and a Benjamini–Hochberg q over the breakdown's contrasts, in metrics.json and on screen
    (only those that exclude 0, with how many were tested)."""
    from test_calibration_cli import _run_folder

    import json

    from workbench.analysis.metrics import run_metrics

    rng = np.random.default_rng(3)
    rows = []
    for g in "fmx":  # f recalls every angry clip, m and x about half; sad is recalled alike (about 70 %) everywhere
        for s in range(6):
            rows += [(f"{g}{s}", "angry", "angry" if g == "f" or rng.random() < 0.5 else "sad") for _ in range(4)]
            rows += [(f"{g}{s}", "sad", "sad" if rng.random() < 0.7 else "angry") for _ in range(4)]
    frame = _frame(rows)
    frame["gender"] = frame["speaker"].str[0]
    _run_folder(tmp_path / "run", frame)
    rep = run_metrics(tmp_path / "run", by=("gender",), figures=False, n_boot=300)["raw"]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["raw"]["disparities"]["gender"]["recall_vs_rest"]
    assert saved["tested"] == 6 and {(r["class"], r["group"]) for r in saved["contrasts"]} == {(c, g) for c in ("angry", "sad") for g in "fmx"}
    angry_f = next(r for r in saved["contrasts"] if (r["class"], r["group"]) == ("angry", "f"))
    assert angry_f["diff"] > 0.3 and angry_f["lo"] > 0 and angry_f["excludes_0"] and angry_f["q"] < 0.05
    assert all(r["q"] >= r["p"] - 1e-12 for r in saved["contrasts"])  # BH never lowers a p
    # sad is recalled alike by design: one of its three contrasts excludes 0 at the nominal 95 %, but not below the FDR
    assert not any(r["q"] < 0.05 for r in saved["contrasts"] if r["class"] == "sad") and saved["significant"] == 2
    text = rep.render()
    head = next(ln for ln in text.splitlines() if "each group − the mean of the others" in ln)
    assert f"{saved['excluding_0']} of 6 tested exclude 0" in head and "Benjamini–Hochberg q" in head
    shown = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(("angry, ", "sad, "))]
    assert any(ln.startswith("angry, f: +") for ln in shown) and len(shown) == saved["excluding_0"]
    assert all("not below the FDR: may be chance" in ln for ln in shown if ln.startswith("sad, "))
    assert not any(ln.startswith("angry, x") for ln in shown)  # its interval holds 0: tested, counted, not shown


def test_the_report_page_shows_the_group_contrasts_metrics_prints(tmp_path, monkeypatch):
    """The signed recall gaps (two groups) and each group's gap against the others (three or more) were in metrics.json
    and on the screen only: the report's breakdown showed max − min, whose interval never holds 0."""
    from test_calibration_cli import _run_folder

    from workbench.analysis.groups import recall_gap_lines
    from workbench.analysis.metrics import run_metrics
    from workbench.views import reporting

    rows = []
    for g in "fmx":  # f recalls every angry clip, m and x none: each group's contrast excludes 0
        for s in range(6):
            rows += [(f"{g}{s}", "angry", "angry" if g == "f" else "sad") for _ in range(4)]
            rows += [(f"{g}{s}", "sad", "sad") for _ in range(4)]
    frame = _frame(rows)
    frame["gender"] = frame["speaker"].str[0]
    _run_folder(tmp_path / "run", frame)
    rep = run_metrics(tmp_path / "run", by=("gender",), figures=False, n_boot=200)["raw"]
    lines = [ln.strip() for ln in recall_gap_lines(rep.disparities["gender"])]
    assert any(ln.startswith("angry, f: +") for ln in lines), lines
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    reporting.metrics_section(tmp_path / "run", by=["gender"], n_boot=200)
    page = "".join(shown)
    assert all(f"<p>{html.escape(ln)}</p>" in page for ln in lines), page[-3000:]


def test_a_class_of_two_eligible_groups_among_three_keeps_the_contrast_lines_of_the_others():
    """A breakdown of three groups where one class had only two groups with enough items: that class's signed line was
    printed and every group-against-the-rest line dropped (the first branch returned early)."""
    from workbench.analysis.groups import recall_gap_lines

    signed = {"gap": 0.2, "signed": {"of": "f − m", "diff": 0.2, "lo": 0.1, "hi": 0.3, "excludes_0": True}}
    contrast = {"class": "sad", "group": "x", "diff": 0.3, "lo": 0.1, "hi": 0.5, "p": 0.01, "q": 0.02, "excludes_0": True, "note": ""}
    lines = recall_gap_lines({"recall": {"angry": signed, "sad": {"gap": 0.4}},
                              "recall_vs_rest": {"tested": 3, "excluding_0": 1, "significant": 1, "fdr": 0.05, "contrasts": [contrast]}})
    text = "\n".join(lines)
    assert "angry: +0.200" in text and "1 of 3 tested exclude 0" in text and "sad, x: +0.300 [+0.100, +0.500] q=0.020" in text, text
