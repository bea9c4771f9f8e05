"""walk15: checkpoint_comparison's parameters say what they are, as the CLI's --scheme/--folds do.

``probe_folds='speaker'`` was a fold SCHEME and ``probe_k`` a fold COUNT, where every command says ``--scheme`` for the
scheme and ``--folds`` for the count.  Now ``probe_scheme`` and ``probe_folds``; ``probe_k`` still works, said deprecated;
``probe_folds=speaker`` (the old meaning) is refused naming ``probe_scheme``; an unknown name is refused with the list."""

import pytest

from workbench.errors import ConfigError
from workbench.views.report_run import parse_params, template_parameters


def test_template_declares_the_clear_names():
    names = template_parameters("checkpoint_comparison")
    assert "probe_scheme" in names and "probe_folds" in names and "probe_k" not in names


def test_old_count_name_still_works_and_is_said_deprecated():
    notes = []
    assert parse_params(["probe_k=3"], template="checkpoint_comparison", notes=notes) == {"probe_folds": 3}
    assert notes == ["-p probe_k is deprecated: it is now -p probe_folds (probe_folds=3 used)"]


@pytest.mark.parametrize("value", ["speaker", "None"])
def test_old_scheme_meaning_is_refused_naming_the_new_name(value):
    with pytest.raises(ConfigError) as e:
        parse_params([f"probe_folds={value}"], template="checkpoint_comparison")
    assert "probe_folds is now the number of folds (as --folds); the scheme is probe_scheme" in e.value.message
    assert f"pass -p probe_scheme={value} " in e.value.fix


def test_both_names_and_unknown_names_refused():
    with pytest.raises(ConfigError, match="probe_k is the old name of probe_folds, and both are given"):
        parse_params(["probe_k=3", "probe_folds=4"], template="checkpoint_comparison")
    with pytest.raises(ConfigError) as e:
        parse_params(["probe_kk=3"], template="checkpoint_comparison")
    assert "takes run_dirs, variant, probe_scheme, probe_target, probe_folds, n_boot" in e.value.message


def test_new_names_accepted():
    assert parse_params(["probe_scheme=session", "probe_folds=4"], template="checkpoint_comparison") == {
        "probe_scheme": "session", "probe_folds": 4}
    assert parse_params(["probe_scheme=None"], template="checkpoint_comparison") == {"probe_scheme": None}


def test_features_screen_names_at_most_SHOWN_cues_not_carried_and_json_all(tmp_path, monkeypatch):
    """`features --set egemaps --probe` on the demo run printed one '!!' line naming all 88 cues not carried (a
    screenful of names) under a table that shows 15.  The screen now names SHOWN of them and counts the rest; --json all."""
    from test_features_cli import _probe_planted

    import workbench.cli.features as F

    monkeypatch.setattr(F, "SHOWN", 0)  # as if more cues than the screen shows were not carried
    _, report, shown = _probe_planted(tmp_path, n=48, speakers=8, other=("absent", lambda rng, n: rng.standard_normal(n)),
                                      bootstrap=50)
    line = next(s for s in shown if "do not measurably carry" in s)
    assert "absent" not in line and "… and 1 more (the carried column; --json or --out DIR for all)" in line
    assert report["probe_not_carried"].endswith("(carried False): absent")


def _sets_report(classes=("angry", "happy", "neutral", "sad", "surprised")):
    """A calibrate report of the demo run's shape: every class covered, intervals reaching 1, two-line legend entries."""
    from types import SimpleNamespace

    from workbench.analysis.calibration_measures import COVERAGE_TOO_FEW

    def score():
        per = {c: {"coverage": 1.0, "coverage_ci": (0.74, 1.0), "check": "PASS", "mean_size": 4.6, "n": 12,
                   "uninformative": True} for c in classes}
        per[classes[-1]].update(n=1, check=COVERAGE_TOO_FEW, coverage_ci=(0.03, 1.0))  # its tick label takes 2 lines
        return {"per_class": per, "coverage": 0.865, "coverage_ci": (0.742, 0.944), "check": "PASS", "mean_size": 4.6,
                "n_classes": len(classes), "uninformative": True, "guarantee": {"range": (0.808, 0.981)},
                "by_group": {"grouped": True, "by": "speaker", "coverage_range": (0.62, 1.0), "flag": False}}

    return SimpleNamespace(classes=list(classes), conformal={"lac": score(), "aps": score()}, alpha=0.1, variant="raw")


def test_set_size_legend_does_not_cover_the_size_labels():
    """calibrate's conformal figure on the demo run: the legend (LAC and APS, two lines each, and the target) lay over
    the mean-size labels of every bar whose interval reaches 1 (y-limit fixed at 1.55)."""
    import matplotlib.pyplot as plt

    from workbench.analysis.calibration_plots import plot_set_sizes

    fig = plot_set_sizes(_sets_report())
    fig.tight_layout()  # as calibrate writes it
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    labels = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(labels) == 10 and not [b for b in labels if b.overlaps(legend)], "a size label under the legend"
    fig.savefig("/tmp/walk15_sets.png") if __import__("os").environ.get("WALK15_SHOT") else None
    plt.close(fig)


def test_explain_steps_help_says_steps_and_points():
    """`explain --help` said --steps is the 'points on each deletion/insertion curve'; --steps 20 writes curves of 21
    points (0 to 20 of 20 steps removed) into explanation.json, and --steps 1 is refused."""
    from workbench.cli import build_parser

    action = next(a for a in build_parser(["explain"])._subparsers._group_actions[0].choices["explain"]._actions
                  if "--steps" in a.option_strings)
    assert "N steps are N + 1 points (2 to 200)" in action.help and action.default == 20


def test_widget_note_on_a_report_page_names_the_notebook_to_open():
    """`workbench report notebooks/05_long_audio.ipynb`: the page said only "Open this notebook in JupyterLab" under
    the banner; the executed notebook lies beside the page under the template's name, which the note now gives
    (escaped: a notebook path is the user's)."""
    import nbformat

    from workbench.views.html import notebook_html

    widget = {"application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2, "version_minor": 0},
              "text/plain": "VBox(…)"}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("w", outputs=[nbformat.v4.new_output("display_data", data=widget)])])
    page = notebook_html(nb, title="t", notebook="05_long_audio.ipynb")
    assert "<code>05_long_audio.ipynb</code> in this page's folder" in page
    assert "<code>jupyter lab 05_long_audio.ipynb</code>, run from that folder" in page
    assert "<script>" not in notebook_html(nb, title="t", notebook="<script>x</script>.ipynb")


def test_report_help_lists_the_widget_notebooks_parameters():
    """`workbench report notebooks/05_long_audio.ipynb` takes path= or segment_dir=, which --help never said: it listed
    the three templates' parameters only, and README says each notebook 'takes a file or a run folder'."""
    from workbench.views.report_run import template_parameter_help

    text = template_parameter_help()
    assert "  notebooks/05_long_audio.ipynb:\n    path=None: a long recording" in text
    assert "    segment_dir=None: or an existing `workbench segment` folder (then path is not read)" in text
    assert "  notebooks/03_low_confidence_cases.ipynb:\n    run_dir=None" in text
    assert "\n    model=None\n" not in text + "\n"  # every parameter says what it is


def test_worst_figure_keeps_its_warning_whole():
    """`explain RUN --worst 3` on a head fine-tuned from the tiny checkpoint: the figure's heading (rule, colour key,
    skipped check) took the four title lines and the warning ended 'RANDOM WEIGHTS: … its…', the flag cut short."""
    import matplotlib.pyplot as plt

    from workbench.explain.worst import plot_worst

    warning = ("fine-tuned from a generated checkpoint: RANDOM WEIGHTS: this result comes from a seeded random test "
               "checkpoint; its predictions mean nothing.")
    method = {"reliable": True, "insertion_verdict": "better than random", "deletion_verdict": "better than random",
              "randomisation_passed": None, "randomisation_skipped": 1}
    cases = [{"id": f"clip{i}", "variant": "raw", "emotion": "angry", "pred": "surprised", "confidence": 0.6,
              "methods": {"occlusion": method}} for i in range(3)]
    summary = {"cases": cases, "methods": {"occlusion": {"cases": 3, "randomisation_skipped": 3}}, "showing": "3 of the 53 rows",
               "rule": "wrong predictions first, most confident first (confidently wrong); then the other rows, least "
                       "confident first", "warning": warning}
    fig = plot_worst(summary)
    title = fig._suptitle.get_text()
    assert "predictions mean nothing." in title and "…" not in title.split("⚠ fine-tuned")[-1]
    plt.close(fig)
