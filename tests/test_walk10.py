"""The newcomer walk of round ten: what a researcher trying the round's new checks met on the screen, in the JSON, in
the figures and on the pages, each against the code before it."""

from __future__ import annotations

import json

import pytest

from test_probe import synthetic_row, write_run


def _gendered_run(path, items: int = 48):
    """Items of two speakers and two genders, every one answered 'disgusted' (a constant, wrong answer)."""
    classes = ["angry", "happy", "neutral", "sad"]
    rows = []
    for k in range(items):
        r = synthetic_row(f"i{k}", emotion=classes[k % 4], pred="disgusted", speaker=f"s{k % 2}")
        r["gender"] = "female" if k % 2 else "male"
        rows.append(r)
    return write_run(path, rows, [[1.0, 0.0]] * len(rows))


def test_metrics_by_given_twice_breaks_down_by_both_columns(tmp_path, capsys):
    """`metrics RUN --by speaker --by gender` broke the metrics down by gender alone: the last --by won without a
    word. Each occurrence now adds its columns (once each); one --by still replaces the default."""
    from workbench.cli import main

    rf = _gendered_run(tmp_path / "run")
    assert main(["metrics", str(rf.path), "--no-figures", "--json", "--by", "speaker", "--by", "gender", "speaker"]) == 0
    doc = json.loads(capsys.readouterr().out)["variants"]["raw"]
    assert list(doc["breakdowns"]) == ["speaker", "gender"]
    assert main(["metrics", str(rf.path), "--no-figures", "--json", "--by", "gender"]) == 0
    assert list(json.loads(capsys.readouterr().out)["variants"]["raw"]["breakdowns"]) == ["gender"]


def test_a_group_s_zero_width_note_names_only_the_figures_the_breakdown_shows(tmp_path, capsys):
    """'female WA 0.000 [0.000, 0.000] UAR 0.000 [0.000, 0.000] (n=12) [… zero-width interval (WA, UAR, macro-F1) …]':
    a group's macro-F1 is shown nowhere (screen, metrics.json, figure, page), yet its note named it."""
    from workbench.cli import main

    rf = _gendered_run(tmp_path / "run")
    assert main(["metrics", str(rf.path), "--no-figures", "--json", "--by", "gender"]) == 0
    group = json.loads(capsys.readouterr().out)["variants"]["raw"]["breakdowns"]["gender"]["female"]
    assert "macro_f1" not in group
    assert "zero-width interval (WA, UAR) from 24 item(s)" in group["note"] and "macro-F1" not in group["note"]
    # a group too small to show its figures ('—') has no note on their intervals either, as none on their baselines
    rf = _gendered_run(tmp_path / "small", items=24)
    assert main(["metrics", str(rf.path), "--no-figures", "--json", "--by", "gender"]) == 0
    group = json.loads(capsys.readouterr().out)["variants"]["raw"]["breakdowns"]["gender"]["female"]
    assert group["too_small"] and "zero-width" not in group["note"] and "BELOW" not in group["note"], group["note"]


def test_embeddings_figures_carry_their_checks_and_a_k_set_by_hand_is_said_to_be(tmp_path, capsys, monkeypatch):
    """The PNG maps said nothing of the checks the screen printed beside them (the map's trustworthiness against a random
    layout's; the clusters' silhouette against single blobs' and their adjusted Rand index against label shuffles')
    unless one failed, and `--k 4` printed 'kmeans: k=4 (silhouette 0.445; k=4: 0.445)'."""
    import numpy as np

    import workbench.cli.analysis as A
    from workbench.cli import main

    titles = {}
    real = A.plot_projection

    def keep_title(xy, rows, col, **kw):  # the real figure, its title kept for the test
        fig = real(xy, rows, col, **kw)
        titles[col] = fig.axes[0].get_title()
        return fig

    monkeypatch.setattr(A, "plot_projection", keep_title)
    rng = np.random.default_rng(4)
    emb = np.concatenate([c + rng.standard_normal((30, 32)) for c in np.eye(32)[:4] * 8])
    classes = ["angry", "happy", "neutral", "sad"]
    rows = [synthetic_row(f"u{i}", emotion=classes[i // 30]) for i in range(120)]
    rf = write_run(tmp_path / "run", rows, emb)
    assert main(["embeddings", str(rf.path), "--out", str(tmp_path / "e"), "--k", "4", "--color-by", "emotion", "cluster"]) == 0
    out = capsys.readouterr().out
    assert "kmeans: k=4 (set by --k; silhouette " in out and "k=4: " not in out
    for col in ("emotion", "cluster"):
        assert "map trustworthiness " in titles[col] and ", a random layout " in titles[col], titles[col]
    assert "k=4: silhouette " in titles["cluster"] and "single blobs up to " in titles["cluster"]
    assert "labels: adjusted Rand 1.000, shuffles up to " in titles["cluster"]
    assert "adjusted Rand" not in titles["emotion"]


def test_report_parameter_refusals_name_values_as_typed_and_lists_as_words():
    """`report -p n_boot=5 -p n_boot=6` said 'given twice (5, then '6')' (the first value parsed, the second as typed);
    a misspelt template listed "templates: ['checkpoint_comparison', …]" and an unknown baseline "its variants: ['raw']",
    Python lists where the other refusals name words."""
    from workbench.errors import ConfigError
    from workbench.views.report_run import check_baseline, parse_params, template_path

    with pytest.raises(ConfigError) as e:
        parse_params(["n_boot=5", "n_boot=6"])
    assert "parameter n_boot is given twice ('5', then '6')" in e.value.message
    with pytest.raises(ConfigError) as e:
        template_path("experiment_reprot")
    assert "templates: checkpoint_comparison, experiment_report, variant_comparison." in e.value.message
    with pytest.raises(ConfigError) as e:
        check_baseline("tele", ["raw", "telephone"])
    assert "its variants: raw, telephone." in e.value.message and "[" not in e.value.message


def _snr_rows(items: int):
    import numpy as np
    import pandas as pd

    from workbench.labels import LABEL_KEYS
    from workbench.schema import score_column

    rows = []
    for variant, snr in (("clean", np.inf), ("snr_40", 40.0), ("snr_0", 0.0)):
        for i in range(items):
            scores = np.full(len(LABEL_KEYS), 0.5 / (len(LABEL_KEYS) - 1))
            scores[i % len(LABEL_KEYS)] = 0.5 - 0.01 * i - (0.1 if snr == 0 else 0)
            scores /= scores.sum()
            rows.append({"id": f"i{i}", "variant": variant, "status": "ok", "pred": LABEL_KEYS[int(scores.argmax())],
                         "confidence": float(scores.max()), "margin": 0.1, "snr_db": snr, "denoise": False,
                         **{score_column(k): v for k, v in zip(LABEL_KEYS, scores)}})
    return pd.DataFrame(rows)


def test_a_sweep_of_one_item_does_not_claim_intervals_and_its_knob_is_headed_in_words():
    """The report's sweep of one demo clip drew the legend 'mean confidence, Student-t 95 % interval over the items' with
    no interval drawn (the table beside it says 'one item: no interval'); its table was headed 'snr db' (the column's
    name) and printed 40.0000 on the page."""
    import matplotlib.pyplot as plt

    from workbench.runs.sweep import plot_sweep, summarise_sweep, sweep_display
    from workbench.views.reporting import sweep_table_html

    fig = plot_sweep(_snr_rows(1), "snr")
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert "mean confidence (without noise reduction),\none item: no interval, no ring" in legend, legend
    assert not any("Student-t" in t for t in legend), legend
    plt.close(fig)
    fig = plot_sweep(_snr_rows(4), "snr")  # several items: the interval is drawn and said
    assert "mean confidence (without noise reduction),\nStudent-t 95 % interval over the items" in [
        t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    plt.close(fig)
    summ = summarise_sweep(_snr_rows(1), "snr")
    shown = sweep_display(summ)
    assert "SNR (dB)" in shown.columns and "snr db" not in shown.columns
    assert list(shown["SNR (dB)"]) == ["none added (clean)", "40", "0"]
    page = str(sweep_table_html(summ))
    assert "<th>SNR (dB)</th>" in page and "40.0000" not in page and "<td>40</td>" in page


def test_a_timeline_of_one_span_says_span(tmp_path, tiny_model):
    """`workbench segment` on a recording whose segments all got one label printed 'timeline (1 spans, …)'."""
    from test_longform import bursts_file

    from workbench.runs.longform import SegmentConfig, segment_file

    path = bursts_file(tmp_path / "talk.wav", layout=((1.0, 2.0),))
    res = segment_file(path, model=tiny_model, out_dir=tmp_path / "out", config=SegmentConfig(vad="energy"), figures=False)
    assert len(res.timeline) == 1
    assert "timeline (1 span, neighbours with the same label merged" in res.render()


def test_compare_item_tables_head_a_pair_s_runs_as_run_1_and_2_and_mark_a_missing_label():
    """The page's label flips were headed 'pred A (conf.)', 'pred B (conf.)', 'findings B' over the rows of the pair
    A → C too (C's prediction under 'pred B'), and 'id', 'emotion' beside the most-different table's 'item', 'true label';
    an item without a true label (tone_440hz) had a blank cell on the screen and both tables."""
    import pandas as pd

    from workbench.analysis.compare.items import disagreement_html, disagreement_lines, flips_html

    flips = pd.DataFrame({"id": ["tone", "sad1"], "variant": ["raw", "raw"], "run_a": ["A", "A"], "run_b": ["C", "C"],
                          "emotion": ["", "sad"], "pred_a": ["happy", "happy"], "confidence_a": [0.4, 0.5],
                          "pred_b": ["sad", "sad"], "confidence_b": [0.6, 0.7], "fixed": [None, True], "broke": [None, False],
                          "findings_a": ["", "low_snr,small_margin"], "findings_b": ["", ""]})
    page = flips_html(flips)
    for head in ("<th>item</th>", "<th>true label</th>", "<th>top-1 label, run 1 (confidence)</th>",
                 "<th>top-1 label, run 2 (confidence)</th>", "<th>findings, run 2</th>"):
        assert head in page, page
    assert "pred B" not in page and "findings B" not in page and "<th>emotion</th>" not in page
    assert page.split("<td>tone</td>")[1].split("</tr>")[0].count("<td>—</td>") == 2  # the missing label, and its change
    items = flips.assign(tvd=[0.3, 0.2], max_abs_delta=[0.2, 0.1], cosine=[0.9, 0.8])
    table = disagreement_html(items, 5)
    assert "<td>—</td>" in table.split("<td>tone</td>")[1].split("</tr>")[0], table
    screen = "\n".join(disagreement_lines(items, items, 2, 5))
    tone = next(line for line in screen.splitlines() if " tone " in line)
    assert tone.split(" tone ")[1].split()[0] == "—", tone


def test_the_agreement_table_heads_a_pair_s_runs_as_the_item_tables_do():
    """The page's agreement table was headed 'run a', 'run b' (read as the runs named A and B) above the rows of the
    pairs A–C and B–C, and above item tables headed 'run 1', 'run 2'."""
    import pandas as pd

    from workbench.analysis.compare.runs import _agreement_table

    row = {"run_a": "B", "run_b": "C", "variant": "raw", "n": 3, "kappa": 0.5, "kappa_lo": 0.1, "kappa_hi": 0.9,
           "top1_agreement": 0.6, "top1_agreement_lo": 0.2, "top1_agreement_hi": 0.9, "n_label_flips": 1,
           "max_abs_delta_score": 0.2, "mean_max_abs_delta_score": 0.1, "max_tvd": 0.3, "mean_tvd": 0.2,
           "cosine_min": None, "cosine_mean": None}
    table = _agreement_table(pd.DataFrame([row]))
    assert list(table.columns[:2]) == ["run 1", "run 2"] and list(table.iloc[0, :2]) == ["B", "C"]


def test_report_refuses_a_single_probe_fold_before_the_notebook_starts():
    """`report checkpoint_comparison -p probe_k=1` passed the count check (1 to 100,000) and the page said 'Probe not
    evaluated: folds must be a whole number of 2 or more, given 1. Fix: pass folds=5', a Python argument."""
    from workbench.errors import ConfigError
    from workbench.views.report_run import check_params

    with pytest.raises(ConfigError) as e:
        check_params("checkpoint_comparison", {"probe_folds": 1})
    assert "parameter probe_folds=1 is not a whole number from 2 to 100,000." in e.value.message
    assert "-p probe_folds=5 (the default)" in e.value.fix
    check_params("checkpoint_comparison", {"probe_folds": 2, "top": 1})  # one row listed is fine


def test_the_per_class_table_heads_f1_as_its_flags_do_and_keeps_long_class_names_in_their_column():
    """`metrics` and `finetune` headed the column 'f1' over flags saying 'per-class F1' (and the page's 'F1'); a class
    name past ten letters pushed its row's figures out from under their heads."""
    from workbench.analysis.groups import class_lines
    from workbench.analysis.stats import class_report

    t = ["disappointed"] * 6 + ["sad"] * 6
    p = ["disappointed"] * 4 + ["sad"] * 2 + ["sad"] * 5 + ["disappointed"]
    _, table = class_report(t, p, ["disappointed", "sad"], n=50, seed=0)
    lines = class_lines(table, len(t))
    assert lines[0].rstrip().endswith("F1 [95% bootstrap CI]") and " f1 " not in lines[0]
    column = lines[0].index("precision")
    assert all(line[column - 1] == " " and line[column] != " " for line in lines[1:3]), lines


def test_a_path_too_long_is_said_to_pass_the_limit_it_passes():
    """'its 305 characters are longer than this file system allows a file name (255 bytes) or a path (4,096)': 305 is
    not longer than 4,096; the message now names the limit passed, a file name's or the whole path's."""
    import errno

    from workbench.cli.common import path_fault

    one = path_fault(OSError(errno.ENAMETOOLONG, "File name too long", "runs/" + "r" * 300))
    assert "one name in it (300 bytes) is longer than this file system allows a file name (255 bytes)." in one
    assert "4,096" not in one
    deep = path_fault(OSError(errno.ENAMETOOLONG, "File name too long", "/".join(["d" * 200] * 25)))
    assert "its 5,024 bytes are longer than this file system allows a path (4,096)." in deep and "255" not in deep


def test_the_flips_table_gives_every_pair_of_runs_its_turn():
    """Three runs, 60 flips A → B before 60 A → C: the 50 shown were all A → B (found by the walk)."""
    import pandas as pd

    from workbench.analysis.compare.items import flips_html

    n = 60
    flips = pd.DataFrame({"id": [f"i{k}" for k in range(2 * n)], "variant": "raw", "run_a": "A", "run_b": ["B"] * n + ["C"] * n,
                          "emotion": "sad", "pred_a": "happy", "confidence_a": 0.5, "pred_b": "sad", "confidence_b": 0.6,
                          "fixed": True, "broke": False, "findings_a": "", "findings_b": ""})
    page = flips_html(flips, shown=50)
    assert page.count("A\u00a0→\u00a0B") == 25 and page.count("A\u00a0→\u00a0C") == 25
    assert "showing 50 of 120, the pairs of runs in turn (2 pairs)" in page
