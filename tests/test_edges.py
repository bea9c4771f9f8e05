"""Parameters are checked at the edges: a misspelt one is refused, naming the valid ones (issue #20, defects 2-4)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import speech_like
from workbench.cli import main
from workbench.errors import ConfigError
from workbench.data.manifest import Item, Manifest, write_manifest
from workbench.runs.driver import run
from workbench.audio.variants import Variant, load_variants


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("edges")
    items = []
    for i in range(4):
        sf.write(root / f"c{i}.wav", speech_like(16000, 1.0, seed=i), 16000)
        items.append(Item(id=f"c{i}", path=f"c{i}.wav", label=["happy", "sad"][i % 2], emotion=["happy", "sad"][i % 2], speaker=f"s{i % 2}"))
    return write_manifest(Manifest(items, root=root), root / "manifest.csv")


@pytest.fixture(scope="module")
def small_run(manifest, tiny_model):
    return run(manifest, out_dir=manifest.parent / "run", model=tiny_model, use_cache=False, workers=0).run_dir


def test_a_misspelt_report_parameter_is_refused_with_the_templates_list(tmp_path, capsys):
    # defect 2: `-p rundir=…` ran the template on its default data and exited 0
    code = main(["report", "experiment_report", "-p", "rundir=runs/emodb", "--out", str(tmp_path / "reports")])
    err = capsys.readouterr().err
    assert code == 2 and "rundir" in err and "run_dir" in err and "title" in err
    assert not (tmp_path / "reports" / "experiment_report").exists()


def test_a_misspelt_breakdown_is_refused_and_a_real_one_kept(small_run, capsys):
    # defect 3: `--by speakr` gave no breakdown and no warning
    assert main(["metrics", str(small_run), "--by", "speakr", "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "speakr" in err and "speaker" in err
    assert main(["metrics", str(small_run), "--by", "speaker", "--no-figures"]) == 0
    assert "by speaker" in capsys.readouterr().out


def test_a_misspelt_step_key_is_refused_when_the_variants_file_is_read(tmp_path):
    # defect 4: {name: trim, top_dB: 30} loaded, and every row of the variant failed after the model loaded
    bad = tmp_path / "variants.yaml"
    bad.write_text("variants:\n  raw: []\n  trimmed: [{name: trim, top_dB: 30}]\n")
    with pytest.raises(ConfigError) as info:
        load_variants(bad)
    text = str(info.value)
    assert "top_dB" in text and "top_db" in text and "trimmed" in text and str(bad) in text


def test_an_empty_variants_file_suggests_the_form_the_readme_documents(tmp_path):
    import re
    from pathlib import Path

    import yaml

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    documented = yaml.safe_load(re.search(r"```yaml\n(# variants\.yaml.*?)```", readme, re.S).group(1))["variants"]
    assert isinstance(documented, list) and all("name" in v for v in documented)  # the README's list form
    empty = tmp_path / "variants.yaml"
    for text, found in (("", "the file is empty"), ("variants: []\n", "an empty list")):
        empty.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_variants(empty)
        assert found in info.value.message and str(empty) in str(info.value)
        suggested = info.value.fix.split("`")[1]
        assert isinstance(yaml.safe_load(suggested)["variants"], list)  # the same form, not a mapping of names
        pasted = tmp_path / "pasted.yaml"
        pasted.write_text(suggested + "\n")
        assert [(v.name, [s.to_dict()["name"] for s in v.steps]) for v in load_variants(pasted)] == [("raw", []), ("trimmed", ["trim"])]


def test_the_run_command_refuses_a_misspelt_step_before_the_model_loads(manifest, tmp_path, capsys):
    bad = tmp_path / "variants.yaml"
    bad.write_text("variants:\n  trimmed: [{name: trim, top_dB: 30}]\n")
    # a model that cannot load: the variants error must come first
    code = main(["run", str(manifest), "--variants", str(bad), "--model", str(tmp_path / "no_model"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "top_db" in err and "no_model" not in err
    assert not (tmp_path / "r").exists()


def test_the_chain_hash_is_canonical():
    # defect 4: {trim} and {trim, top_db: 30} (the default) hashed differently, so the cache missed
    plain = Variant.from_dict({"name": "t", "steps": [{"name": "trim"}]})
    explicit = Variant.from_dict({"name": "t", "steps": [{"name": "trim", "top_db": 30}]})
    assert plain.chain_hash() == explicit.chain_hash() and plain == explicit
    assert Variant.from_dict({"name": "t", "steps": [{"name": "trim", "top_db": 20}]}).chain_hash() != plain.chain_hash()


def test_a_step_value_of_the_wrong_type_is_refused():
    with pytest.raises(ConfigError, match="finite number"):
        Variant.from_dict({"name": "g", "steps": [{"name": "gain", "db": "loud"}]})
    with pytest.raises(ConfigError, match="true or false"):
        Variant.from_dict({"name": "d", "steps": [{"name": "denoise", "stationary": "yes please"}]})
    # YAML 1.1 reads 1e1 as a string: it is the number it spells
    assert Variant.from_dict({"name": "g", "steps": [{"name": "gain", "db": "1e1"}]}).chain()[0]["db"] == 10.0


def test_a_resumed_run_without_experiment_yaml_gets_one_with_the_manifest_sha(small_run, manifest, tiny_model):
    # defect 9: experiment.yaml did not pin the manifest's sha256 (config.yaml did); a folder of an older
    # version, resumed, had none
    import yaml

    first = yaml.safe_load((small_run / "experiment.yaml").read_text())
    (small_run / "experiment.yaml").unlink()
    res = run(manifest, out_dir=small_run, model=tiny_model, use_cache=False, workers=0)
    assert res.n_resumed == 4
    again = yaml.safe_load((small_run / "experiment.yaml").read_text())
    config = yaml.safe_load((small_run / "config.yaml").read_text())
    assert again["manifest_sha256"] == first["manifest_sha256"] == config["manifest_sha256"]
    assert again["model"]["model"] == config["model"] == "tiny" and again["model"]["checksum"] == tiny_model.info.checksum


@pytest.mark.parametrize("text,ok,match", [
    ("audio: {max_duration_s: 1e3}\n", 1000.0, None),  # YAML 1.1 reads 1e3 as a string: it is the number it spells
    ("audio: {target_sr: 1}\n", None, "target_sr must be 16000"),
    ("audio: {max_duration_s: -5}\n", None, "above 0"),
    ("audio: {max_duration_s: lots}\n", None, "above 0"),
    ("audio: {mixdown: left}\n", None, "mean"),
])
def test_experiment_audio_settings_are_type_and_range_checked(tmp_path, text, ok, match):
    import yaml

    from workbench.runs.experiment import Experiment

    data = yaml.safe_load("manifest: m.csv\n" + text)
    if match is None:
        assert Experiment.from_dict(data, base=tmp_path).audio_config().max_duration_s == ok
    else:
        with pytest.raises(ConfigError, match=match):
            Experiment.from_dict(data, base=tmp_path)


def test_the_run_summary_names_the_failed_items(manifest, tmp_path, tiny_model, capsys):
    from workbench.cli.running import print_run_summary
    from workbench.data.manifest import read_manifest

    m = read_manifest(manifest)
    (tmp_path / "broken.wav").write_text("not audio")
    m.items.append(Item(id="broken", path=str(tmp_path / "broken.wav"), label="happy", emotion="happy"))
    res = run(m, out_dir=tmp_path / "r", model=tiny_model, use_cache=False, workers=0)
    print_run_summary(res)
    out = capsys.readouterr().out
    assert "1 failed" in out and "failed: broken [raw] (audio)" in out


def test_diagnose_puts_the_banner_first_and_says_what_the_stability_test_found(manifest, tiny_model):
    from workbench.engine.diagnosis import diagnose

    text = diagnose(manifest.parent / "c0.wav", tiny_model).render()
    assert text.startswith("!! RANDOM WEIGHTS")
    line = next(x for x in text.splitlines() if x.startswith("stability:"))
    assert "0%" not in line and ("stays" in line or "changes under" in line) and "perturbations" in line


def test_sweep_summary_prints_sample_rates_as_whole_hertz():
    import pandas as pd

    from workbench.views.reporting import frame_html
    from workbench.runs.sweep import summarise_sweep

    df = pd.DataFrame({
        "id": ["a", "b", "a", "b"], "variant": ["raw", "raw", "sr_22050", "sr_22050"], "status": ["ok"] * 4,
        "sample_rate": [44100.0, 44100.0, 22050.0, 22050.0], "confidence": [0.5, 0.6, 0.4, 0.7],
        "margin": [0.1, 0.2, 0.1, 0.3], "pred": ["sad", "happy", "sad", "sad"],
    })
    html = str(frame_html(summarise_sweep(df, "sample-rate")))
    assert "22050" in html and "22050.0" not in html and "44100.0" not in html and "&lt;NA&gt;" not in html


def test_the_reports_sweep_table_gives_each_share_its_interval_and_count_in_one_cell():
    """The variant comparison page showed summarise_sweep's raw frame: ``reference`` as True/False and the share's
    denominator and interval as three more columns past the page's width, cut off (only a horizontal scroll reached
    them)."""
    import pandas as pd

    from workbench.runs.sweep import summarise_sweep
    from workbench.views.reporting import sweep_table_html

    df = pd.DataFrame({
        "id": ["a", "b", "a", "b"], "variant": ["raw", "raw", "sr_22050", "sr_22050"], "status": ["ok"] * 4,
        "sample_rate": [44100.0, 44100.0, 22050.0, 22050.0], "confidence": [0.5, 0.6, 0.4, 0.7],
        "margin": [0.1, 0.2, 0.1, 0.3], "pred": ["sad", "happy", "sad", "sad"],
    })
    html = str(sweep_table_html(summarise_sweep(df, "sample-rate")))
    assert "<td>0.500 [0.013, 0.987] 1/2</td>" in html, html  # b flipped: 1 of 2 kept the reference's label
    assert "raw (reference)" in html and "— (the reference itself)" in html
    assert "True" not in html and "False" not in html and "same_label_ci_low" not in html and "22050.0" not in html


def test_no_findings_does_not_run_on_after_its_heading():
    # notebook 01 showed "findings of the telephone audiono findings"
    import re

    from workbench.views.widgets import _findings_html

    html = "<b>findings of the telephone audio</b>" + _findings_html([])
    text = re.sub(r"<(div|ul|li|br|p)[^>]*>", "\n", html)
    assert "audiono" not in re.sub(r"<[^>]+>", "", text)


def _sweep_frame():
    import pandas as pd

    from workbench.schema import SCORE_COLUMNS

    rng = np.random.default_rng(0)
    rows = []
    for variant, rate in (("raw", 44100.0), ("sr_8000", 8000.0), ("sr_16000", 16000.0), ("sr_22050", 22050.0)):
        for item in ("a", "b", "c"):
            scores = rng.dirichlet(np.ones(len(SCORE_COLUMNS)))
            rows.append({"id": item, "variant": variant, "status": "ok", "sample_rate": rate, "confidence": float(scores.max()),
                         "margin": 0.1, "pred": "sad", **dict(zip(SCORE_COLUMNS, scores))})
    return pd.DataFrame(rows)


def test_sweep_legends_do_not_cover_the_markers():
    import warnings

    import matplotlib.pyplot as plt

    from workbench.runs.sweep import plot_sweep

    plt.close("all")  # figures earlier tests left open: past 20, matplotlib warns, and this test makes warnings errors
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no layout warning either
        fig = plot_sweep(_sweep_frame(), "sample-rate")
    fig.canvas.draw()
    for ax in fig.axes:
        box = ax.get_legend().get_window_extent()
        for line in ax.get_lines():
            xy = ax.transData.transform(np.asarray(line.get_xydata(), dtype=float))
            inside = [(x, y) for x, y in xy if np.isfinite(x) and box.contains(x, y)]
            assert not inside, (line.get_label(), inside[:3])


def test_the_segment_heatmap_has_a_colour_bar(tmp_path, tiny_model):
    import warnings

    from workbench.runs.longform import SegmentConfig, plot_longform, segment_file

    y = np.zeros(16000 * 4, np.float32)
    y[16000:16000 * 3] = speech_like(16000, 2.0, seed=3)
    sf.write(tmp_path / "long.wav", y, 16000)
    res = segment_file(tmp_path / "long.wav", model=tiny_model, out_dir=tmp_path / "seg", config=SegmentConfig(vad="energy"), figures=False)
    import matplotlib.pyplot as plt

    plt.close("all")  # figures earlier tests left open: past 20 of them matplotlib warns, which is not this figure's warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_longform(res)
    heat_ax = fig.axes[0]
    bars = [a for a in heat_ax.child_axes if a.get_ylabel() == "probability"]
    assert len(bars) == 1 and bars[0].get_ylim() == (0.0, 1.0)


def test_sweep_sample_rate_labels_do_not_run_together():
    """The walkthrough's variant comparison read '44.148' under two ticks: 44.1 and 48 kHz sit close on a log axis."""
    import pandas as pd

    from workbench.runs.sweep import plot_sweep

    frame = _sweep_frame()  # raw (44.1 kHz), 8, 16, 22.05 kHz; then the rest of the default grid
    one = frame[frame["variant"] == "sr_22050"]
    more = [one.assign(variant=f"sr_{r}", sample_rate=float(r)) for r in (11025, 44100, 48000)]
    fig = plot_sweep(pd.concat([frame, *more], ignore_index=True), "sample-rate")
    fig.canvas.draw()
    ax = fig.axes[1]
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.x0)
    gap = 0.5 * labels[0].get_fontsize() * fig.dpi / 72  # half a character: touching labels read as one number
    assert len(boxes) == 6
    # one row: the 48 set a line lower read as a stray label under the axis (the second walk)
    assert max(b.y0 for b in boxes) - min(b.y0 for b in boxes) < gap, boxes
    for a, b in zip(boxes, boxes[1:]):
        assert b.x0 - a.x1 >= gap, (a, b)


def test_the_run_summarys_next_lines_keep_their_comments_in_one_column(manifest, tmp_path, tiny_model, capsys):
    """`metrics` and `compare` had 12 spaces before their `#`, `report` 3: the comments stood in two ragged columns."""
    from workbench.cli.running import print_run_summary

    res = run(manifest, out_dir=tmp_path / "a run folder", model=tiny_model, use_cache=False, workers=0,
              variants=[Variant("raw"), Variant("other", ())])
    print_run_summary(res)
    steps = capsys.readouterr().out.split("next:\n")[1].splitlines()
    assert [line.split()[1] for line in steps] == ["metrics", "compare", "report", "report"]
    assert "variant_comparison" in steps[2] and "baseline=raw" in steps[2] and "experiment_report" in steps[3]
    longest = max(len(line.split("#")[0].rstrip()) for line in steps)
    assert all(line.index("#") == longest + 3 for line in steps), steps
