"""A new researcher's walk from the demo through a fine-tuned checkpoint: each defect met on the way, constructed here
(runs written through :class:`RunFolder`, no model), then the fixed behaviour."""

from __future__ import annotations

from test_probe import probe_set
from workbench.cli import main


def _checkpoint(path):
    """A folder laid out as a checkpoint (`workbench finetune --out`, a ModelScope download): no model is loaded."""
    path.mkdir()
    (path / "config.yaml").write_text("model: Emotion2vec\nmodel_conf: {}\n")
    (path / "tokens.txt").write_text("hot\nlow\n<unk>\n")
    (path / "model.safetensors").write_bytes(b"\0" * 16)
    return path


def test_a_checkpoint_folder_given_as_a_run_is_named_as_one(tmp_path, capsys):
    # `metrics ckpt` (the --out of finetune, beside its run) said "has no results.parquet (the run did not finish)" and
    # told the user to run `workbench run` again with the same --out: into the checkpoint folder
    probe_set(tmp_path, "run_ft", separable=True, speakers=2, per_class=1)
    ckpt = _checkpoint(tmp_path / "ckpt")
    for command in (["metrics", str(ckpt)], ["calibrate", str(ckpt)], ["explain", str(ckpt), "--worst", "1"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"{ckpt}: is a model checkpoint (config.yaml, tokens.txt, model weights), not a run folder." in err, err
        assert "--model" in err and f"the runs beside it: {tmp_path / 'run_ft'}." in err
        assert "did not finish" not in err and "Traceback" not in err
    # the runs beside a misspelt folder are runs, not checkpoints
    assert main(["metrics", str(tmp_path / "run_fx")]) == 2
    err = capsys.readouterr().err
    assert f"the runs beside it: {tmp_path / 'run_ft'}." in err and str(ckpt) not in err


def test_a_run_is_not_written_into_a_checkpoint_folder(tmp_path, capsys):
    # `run MANIFEST --out ckpt` read the checkpoint's config.yaml as a run's and said it "holds a run with other settings"
    ckpt = _checkpoint(tmp_path / "ckpt")
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,path,label\na,a.wav,happy\n")
    assert main(["run", str(manifest), "--model", "tiny", "--out", str(ckpt), "--skip-missing"]) == 2
    err = capsys.readouterr().err
    assert f"{ckpt}: is a model checkpoint (config.yaml, tokens.txt, model weights), not a run folder." in err, err
    assert "other settings" not in err and sorted(p.name for p in ckpt.iterdir()) == ["config.yaml", "model.safetensors", "tokens.txt"]


def test_a_report_on_a_wrong_run_dir_gives_one_fix(tmp_path, monkeypatch, capsys):
    # the run folder's own fix was pasted into the message as "… Fix: …", and a second, generic fix line followed
    monkeypatch.chdir(tmp_path)
    probe_set(tmp_path, "run_ft", separable=True, speakers=2, per_class=1)
    _checkpoint(tmp_path / "ckpt")
    for given, fact in (("run_fx", "does not exist."), ("ckpt", "is a model checkpoint")):
        assert main(["report", "experiment_report", "-p", f"run_dir={given}"]) == 2
        err = capsys.readouterr().err
        assert err.count("fix:") == 1 and "Fix:" not in err, err
        message, fix = err.strip().splitlines()
        assert f"parameter run_dir='{given}' ({tmp_path / given}): {fact}" in message
        assert f"the runs beside it: {tmp_path / 'run_ft'}" in fix and "relative paths start where you run the command" in fix


def test_a_misspelt_checkpoint_folder_is_not_looked_up_as_a_hub_id(tmp_path, monkeypatch, capsys):
    # `--model ckpt2` (the folder is ckpt) was taken for a hub id: "is not in the local ModelScope cache and
    # www.modelscope.cn cannot be reached", with the fix to download it elsewhere
    monkeypatch.chdir(tmp_path)
    _checkpoint(tmp_path / "ckpt")
    (tmp_path / "a.wav").write_bytes(b"")
    assert main(["infer", "a.wav", "--model", "ckpt2"]) == 2
    err = capsys.readouterr().err
    assert "ckpt2: no such checkpoint directory, and not a hub id (hub ids are owner/name" in err, err
    assert "the checkpoint folders here: ckpt" in err and "ModelScope cache" not in err
    # aliases and owner/name ids stay hub ids
    from workbench.model.checkpoints import resolve_model
    assert resolve_model("base").kind == "hub" and resolve_model("someone/other_model").kind == "hub"


def test_a_manifest_given_to_infer_is_named_as_one(tmp_path, capsys):
    # `infer data.csv` failed with "could not decode: not a readable audio file, or truncated … re-export it as WAV"
    from workbench.audio.intake import load
    from workbench.errors import AudioError
    import pytest

    for name, text in (("data.csv", "id,path,label\na,a.wav,happy\n"), ("data.jsonl", '{"id": "a", "path": "a.wav"}\n')):
        (tmp_path / name).write_text(text)
        with pytest.raises(AudioError) as e:
            load(tmp_path / name)
        assert f"is a manifest ({name.split('.')[1]}), not an audio file" in e.value.message
        assert "workbench run" in e.value.fix and "re-export" not in e.value.fix


def test_egemaps_rows_record_the_rate_and_the_silence_they_were_measured_with():
    # `features --set egemaps` printed "52 rows measured" then "measured at the audio's own rate …: no row measured"
    # and "digital silence left out: none" for clips with silence: the table had no sample_rate_hz nor silence columns
    import numpy as np
    import pandas as pd
    import pytest
    from workbench.explain.cues import excluded_summary
    from workbench.explain.voice import clip_features

    sr = 22050
    t = np.arange(int(1.5 * sr)) / sr
    voice = (0.2 * np.sin(2 * np.pi * 150 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    y = np.concatenate([np.zeros(int(0.5 * sr), np.float32), voice])
    row = clip_features(y, sr, "egemaps")
    assert row["sample_rate_hz"] == sr and row["duration_s"] == pytest.approx(2.0, abs=1e-3)
    assert row["silence_s"] == pytest.approx(0.5, abs=0.01) and row["silence_frames"] == pytest.approx(50, abs=1)
    assert row["frames"] == pytest.approx(200, abs=1)
    summary = excluded_summary(pd.DataFrame([{"id": "a", "variant": "raw", "feature_error": "", **row}]))
    assert summary["sample_rates_hz"] == {sr: 1} and summary["rows_with_silence"] == 1
    # with the Praat cues the Praat frames stay the record
    both = clip_features(y, sr, "all")
    assert both["frames"] == clip_features(y, sr, "praat")["frames"] and "egemaps.loudness_sma3_amean" in both


def test_the_probe_section_of_a_report_prints_no_pandas_na_and_pairs_each_figure_with_its_interval(tmp_path):
    # the checkpoint comparison's probe table showed "<NA>" in the mean row's count cells and 15 columns
    # (wa, wa_lo, wa_hi, …) that ran past the page
    from workbench.analysis.probe import probe_section

    rf = probe_set(tmp_path, "run", separable=True, speakers=4, per_class=3)
    fragment, result = probe_section(rf, n_boot=20)
    assert result is not None and "&lt;NA&gt;" not in fragment and "<NA>" not in fragment
    assert "<th>WA [95% CI]</th>" in fragment and "wa_lo" not in fragment
    mean = result["mean_over_folds"]
    assert f"{mean['uar']:.3f} [{mean['uar_ci'][0]:.3f}, {mean['uar_ci'][1]:.3f}]" in fragment


def test_the_variant_reports_sweep_scores_with_the_runs_model(tmp_path):
    # variant_comparison on a run of a fine-tuned head drew its sweep with the default model (the nine classes of tiny
    # or the large checkpoint) under the run's header, saying nothing
    import json
    from importlib.resources import files
    from workbench.views.reporting import sweep_model

    rf = probe_set(tmp_path, "run", separable=True, speakers=2, per_class=1)
    ref = sweep_model(rf.path, None)
    assert ref.model == "synthetic" and ref.checksum == "0" * 64  # the run's model, its weights pinned
    assert sweep_model(rf.path, "tiny") == "tiny"  # an explicit -p model= wins
    cells = json.loads((files("workbench") / "templates" / "variant_comparison.ipynb").read_text())["cells"]
    sweep_cell = next("".join(c["source"]) for c in cells if "sweep_section" in "".join(c["source"]))
    assert "sweep_model(run_dir, model)" in sweep_cell and "choose_model" not in sweep_cell


def test_a_temperature_fitted_on_another_models_run_is_refused(tmp_path, monkeypatch, capsys):
    # `infer clip --model tiny --temperature runs/finetuned` divided tiny's logits by a T fitted on another network's
    import json
    from workbench.cli.common import resolve_temperature
    from workbench.errors import ConfigError
    import pytest

    monkeypatch.chdir(tmp_path)
    ckpt = _checkpoint(tmp_path / "ckpt")
    rf = probe_set(tmp_path, "run_ft", separable=True, speakers=2, per_class=1)
    (rf.path / "calibration.json").write_text(json.dumps({
        "temperature": 1.7, "recommended": True,
        "model": {"id": str(ckpt), "kind": "trained", "path": str(ckpt), "checksum": "c" * 64}}))
    with pytest.raises(ConfigError) as e:
        resolve_temperature("run_ft", model="tiny")
    assert "fitted on the logits of" in e.value.message and str(ckpt) in e.value.message and "tiny" in e.value.message
    assert "calibrate a run of" in e.value.fix
    # the same checkpoint, named relatively or absolutely: the fitted T
    assert resolve_temperature("run_ft", model="ckpt") == 1.7
    assert resolve_temperature("run_ft", model=str(ckpt)) == 1.7
    assert resolve_temperature("1.3", model="tiny") == 1.3  # a number is the user's own
    (tmp_path / "a.wav").write_bytes(b"")
    assert main(["infer", "a.wav", "--model", "tiny", "--temperature", "run_ft"]) == 2
    err = capsys.readouterr().err
    assert "fitted on the logits of" in err and "Traceback" not in err


def test_the_reasons_a_temperature_was_not_recommended_read_as_separate_reasons(tmp_path):
    # "… come partly from degenerate fits Calibrated NLL 1.386 …": the reasons ran together with a bare space
    import json
    import pytest
    from workbench.cli.common import resolve_temperature
    from workbench.errors import ConfigError

    rf = probe_set(tmp_path, "run", separable=True, speakers=2, per_class=1)
    (rf.path / "calibration.json").write_text(json.dumps({
        "recommended": False, "temperature_fitted": 0.106,
        "not_recommended_because": ["1 of 5 fold temperatures are at a bound of the search", "Calibrated NLL 1.386 is WORSE"]}))
    with pytest.raises(ConfigError) as e:
        resolve_temperature(str(rf.path))
    assert "at a bound of the search; Calibrated NLL 1.386 is WORSE." in e.value.message


def test_a_run_whose_labels_are_the_corpus_own_is_told_to_fine_tune_not_to_add_an_emotion_column(tmp_path):
    # a manifest labelled hot/low/… (no emotion2vec+ counterpart) scored by the nine-class model: metrics said
    # "give the manifest an emotion column", which it has; what it needs is a head for its own labels
    from test_probe import synthetic_row, write_run
    from workbench.analysis.metrics import evaluate

    rows = [synthetic_row(f"u{i}", emotion="", label=("hot", "low")[i % 2]) for i in range(6)]
    report = evaluate(write_run(tmp_path / "odd", rows, [[1.0, 0.0]] * 6).results(), n_boot=10)
    assert "their labels (hot 3, low 3) are none of the model's classes" in report.not_scored
    assert "workbench finetune" in report.not_scored and "give the manifest an emotion column" not in report.not_scored


def test_calibrating_a_fine_tuned_heads_run_on_its_training_speakers_says_so(tmp_path, capsys):
    # `metrics` and the report warned that the head had seen these speakers; `calibrate`'s held-out folds, screen and
    # calibration.json said nothing, though their speakers trained the head
    import json
    import numpy as np
    from test_probe import CLASSES, synthetic_row, write_run

    ckpt = _checkpoint(tmp_path / "ckpt")
    (ckpt / "training_card.json").write_text(json.dumps({"speakers": {"train": ["spk0", "spk1"], "validation": ["spk2"],
                                                                        "test": ["spk3"]}}))
    rng = np.random.default_rng(0)
    rows, emb = [], []
    for s in range(4):
        for c, cls in enumerate(CLASSES):
            for r in range(3):
                p = rng.dirichlet(np.ones(9))
                from workbench.labels import LABEL_KEYS
                rows.append(synthetic_row(f"s{s}_{cls}_{r}", emotion=cls, speaker=f"spk{s}", pred=LABEL_KEYS[int(p.argmax())],
                                          scores=dict(zip(LABEL_KEYS, p))))
                emb.append(rng.standard_normal(4))
    rf = write_run(tmp_path / "run_ft", rows, emb, model=str(ckpt))
    assert main(["calibrate", str(rf.path), "--bootstrap", "20", "--folds", "2", "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "speaker overlap: 3 of the 4 speakers evaluated here (spk0, spk1, spk2) trained or early-stopped" in out
    saved = json.loads((rf.path / "calibration.json").read_text())
    assert any("speaker overlap" in w for w in saved["training_overlap"])
    assert not any("speaker overlap" in w for w in saved["not_recommended_because"])  # a caveat, not a failed check


def test_the_reports_explained_worst_table_does_not_count_a_skipped_check_as_passed(tmp_path, monkeypatch):
    # `explain RUN --worst 2 --randomisation none`: the report said "maps that passed every check: 1 of 2" beside
    # "randomisation check skipped: 2" and a paragraph saying a passing map changes when the network is re-initialised
    from workbench.explain.worst import plot_worst, summary_record, write_summary
    from workbench.views import reporting

    rf = probe_set(tmp_path, "run", separable=True, speakers=2, per_class=1)
    method = {"reliable": True, "deletion_verdict": "better than random", "insertion_verdict": "indistinguishable from random",
              "randomisation_skipped": "--randomisation none", "randomisation_passed": None, "stability_passed": None,
              "completeness_passed": None}
    cases = [{"id": f"i{k}", "variant": "raw", "pred": "happy", "confidence": 0.5, "error": None,
              "methods": {"occlusion": {**method, "reliable": k == 0}}} for k in range(2)]
    summary = summary_record(cases, rule="wrong first", n=2, m=8, variant=None, settings={}, warning=None)
    write_summary(rf, summary, plot_worst(summary))
    shown = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    reporting.explained_worst(rf.path)
    page = "".join(shown)
    # explainfix16: none passed every check; the one that passed the checks run is said apart, skipped is not passed
    assert ("<td>0 of 2; 1 passed the checks that ran, randomisation SKIPPED for 2 (--randomisation none): not a pass</td>"
            in page), page


def test_make_tiny_never_writes_over_a_checkpoint_or_a_run(tmp_path, capsys):
    # `model make-tiny ckpt` wrote random weights, nine tokens and a config over a fine-tuned head (leaving a hybrid of
    # both), and `model make-tiny run_ft` replaced a run's config.yaml with a model's
    ckpt = _checkpoint(tmp_path / "ckpt")
    run = probe_set(tmp_path, "run_ft", separable=True, speakers=2, per_class=1).path
    before = {p: p.read_bytes() for d in (ckpt, run) for p in d.iterdir() if p.is_file()}
    for target in (ckpt, run):
        assert main(["model", "make-tiny", str(target)]) == 2
        err = capsys.readouterr().err
        assert f"{target}: exists and is not an empty folder" in err and "choose a new folder" in err
    assert {p: p.read_bytes() for d in (ckpt, run) for p in d.iterdir() if p.is_file()} == before
    # a new folder, an empty one, and making the same random checkpoint again are fine
    for target in (tmp_path / "new", tmp_path / "new", tmp_path / "empty"):
        target.mkdir(exist_ok=True) if target.name == "empty" else None
        assert main(["model", "make-tiny", str(target)]) == 0
    capsys.readouterr()


def test_an_unknown_device_is_refused_not_run_on_the_cpu(tmp_path, capsys):
    # `infer clip --device gpu` ran on the CPU and said nothing: "gpu" is no device name torch knows
    import pytest
    from workbench.errors import ConfigError
    from workbench.model.ref import ModelRef

    for bad in ("gpu", "GPU", "cuda:x", "cuda1", ""):
        with pytest.raises(ConfigError, match="unknown device"):
            ModelRef("tiny", device=bad)
    for good in ("auto", "cpu", "cuda", "cuda:1"):
        assert ModelRef("tiny", device=good).device == good
    (tmp_path / "a.wav").write_bytes(b"")
    assert main(["infer", str(tmp_path / "a.wav"), "--model", "tiny", "--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert "unknown device 'gpu'" in err and "--device cuda" in err


def test_compare_on_a_run_of_one_variant_says_there_is_nothing_to_compare(tmp_path, capsys):
    # `workbench compare RUN` on a run of one variant printed its metrics, wrote compare.json and flips.csv, and said
    # nothing about the comparison that was never made
    rf = probe_set(tmp_path, "run", separable=True, speakers=2, per_class=1)
    assert main(["compare", str(rf.path), "--bootstrap", "20", "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "holds one variant (raw): there is nothing to compare it with." in err
    assert "workbench compare RUN_A RUN_B" in err and "--variants" in err
    assert not (rf.path / "compare.json").exists()


def test_excluded_items_are_explained_in_the_models_own_terms():
    # a fine-tuned head's run said "excluded (no label, or a label with no emotion2vec+ counterpart)": its classes are
    # its own, not emotion2vec+'s
    import pandas as pd
    from workbench.analysis.metrics import evaluate

    rows = [{"id": f"u{i}", "variant": "raw", "status": "ok", "emotion": ("hot", "low", "")[i % 3], "label": ("hot", "low", "calm")[i % 3],
             "pred": "hot", "confidence": 0.6, "score_hot": 0.6, "score_low": 0.4} for i in range(9)]
    text = evaluate(pd.DataFrame(rows), n_boot=10).render()
    # which labels were left out, not only how many (EmoDB's boredom, a folder named calm, went unnamed)
    assert "3 excluded (label without a counterpart among the model's classes: calm 3)" in text and "emotion2vec+" not in text
    rows[2] = {**rows[2], "label": ""}  # an item with no label at all is counted as such
    text = evaluate(pd.DataFrame(rows), n_boot=10).render()
    assert "3 excluded (label without a counterpart among the model's classes: calm 2; no label: 1)" in text, text


def test_a_run_is_not_written_into_a_folder_of_other_files(tmp_path, monkeypatch, capsys):
    # `workbench run wavs.csv --out wavs` (the audio folder) or --out outputs (infer's folders) put config.yaml,
    # results.parquet, parts/ … among the user's own files
    monkeypatch.chdir(tmp_path)
    audio = tmp_path / "wavs"
    audio.mkdir()
    (audio / "a.wav").write_bytes(b"RIFF")
    (tmp_path / "m.csv").write_text("id,path,label\na,wavs/a.wav,happy\n")
    assert main(["run", "m.csv", "--model", "tiny", "--out", "wavs"]) == 2
    err = capsys.readouterr().err
    assert "wavs: holds other files (a.wav) and no run" in err and "choose a new --out folder" in err
    assert sorted(p.name for p in audio.iterdir()) == ["a.wav"]


def test_an_auc_and_the_random_interval_it_beats_never_print_as_the_same_number():
    # `explain`: "deletion AUC 0.219 (random 0.219–0.243, …): better than random" (0.2186 against 0.2188)
    from types import SimpleNamespace

    from workbench.explain.faithfulness import Faithfulness, auc_digits

    assert auc_digits(0.2186, (0.2188, 0.243)) == 4 and auc_digits(0.20, (0.219, 0.243)) == 3
    assert auc_digits(0.25, (0.25, 0.30)) == 3  # equal values stay equal: no digits invented
    fake = SimpleNamespace(
        random=SimpleNamespace(interval=lambda kind: (0.2188, 0.243) if kind == "deletion" else (0.218, 0.243), deletion_aucs=[0] * 32),
        method=SimpleNamespace(deletion_auc=0.2186, insertion_auc=0.252), frame_score=SimpleNamespace(deletion_auc=0.211, insertion_auc=0.26),
        deletion_verdict="better than random", insertion_verdict="better than random")
    line = Faithfulness.summary(fake)
    assert "deletion AUC 0.2186 (random 0.2188–0.2430" in line and "insertion AUC 0.252 (random 0.218–0.243" in line


def test_a_parent_with_none_of_the_heads_classes_is_not_scored_as_below_chance(tmp_path):
    # finetune on classes the nine lack (hot, low): "parent_mapped WA 0.000 [0.000, 0.000] … !! UAR BELOW CHANCE, interval
    # and all; !! zero-width interval …" — figures of predictions that can never be right, flagged as if measured
    import numpy as np
    from test_probe import synthetic_row, write_run
    from workbench.analysis.finetune.data import tune_data
    from workbench.analysis.finetune.evaluate import evaluate_finetune

    rng = np.random.default_rng(0)
    rows, emb = [], []
    for s in range(4):
        for k in range(6):
            rows.append(synthetic_row(f"s{s}_{k}", emotion="", label=("hot", "low")[k % 2], speaker=f"spk{s}", pred="happy"))
            emb.append(rng.standard_normal(4))
    data = tune_data(write_run(tmp_path / "run", rows, emb), labels="corpus")
    ev = evaluate_finetune(data, k=2, n_boot=20, procedure=lambda tr, va, te: data.y[te])
    parent = ev["parent_mapped"]
    assert parent["not_comparable"].startswith("the parent has none of the head's classes (hot, low)")
    assert parent["wa"] != parent["wa"] and parent["flags"] == []  # NaN: not measured, and no check to fail
    assert ev["finetuned"]["wa"] == 1.0


def test_calibrating_a_run_labelled_in_the_corpus_own_words_says_why_nothing_is_calibrated(tmp_path, capsys):
    # `calibrate` on such a run said "variant 'raw' has 0 labelled item(s) of 0 class", as if nothing were labelled
    from test_probe import synthetic_row, write_run

    rows = [synthetic_row(f"u{i}", emotion="", label=("hot", "low")[i % 2]) for i in range(6)]
    rf = write_run(tmp_path / "odd", rows, [[1.0, 0.0]] * 6)
    assert main(["calibrate", str(rf.path), "--bootstrap", "20", "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "6 item(s) are labelled, but their labels (hot 3, low 3) are none of the model's classes" in err
    assert "workbench finetune" in err and "0 labelled item(s) of 0 class" not in err


def test_the_variant_reports_default_sweep_says_it_is_a_demo_clip_not_an_item_of_the_run():
    # `workbench report variant_comparison -p run_dir=runs/mine` swept happy_en_44k.wav under the header of runs/mine,
    # a file the run does not hold, and said nothing about where it came from or how to choose another
    import json
    from importlib.resources import files
    from workbench.views.reporting import sweep_heading

    default = sweep_heading("/x/happy_en_44k.wav", "sample-rate", "tiny", chosen=False)
    assert "shipped demo clip" in default and "-p sweep_path=FILE" in default and "not an item of this run" in default
    assert "demo clip" not in sweep_heading("/x/mine.wav", "sample-rate", "tiny", chosen=True)
    cells = json.loads((files("workbench") / "templates" / "variant_comparison.ipynb").read_text())["cells"]
    sweep_cell = next("".join(c["source"]) for c in cells if "sweep_section" in "".join(c["source"]))
    assert "chosen=sweep_path is not None" in sweep_cell


def test_a_manifest_refused_for_a_missing_file_names_a_near_miss_column_too(tmp_path, capsys):
    # `workbench run bad.csv` with columns id,path,labl and one missing file: the refusal listed 'extra columns kept in
    # meta: labl' with no 'did you mean label?'; only a --skip-missing run said it, after scoring
    (tmp_path / "bad.csv").write_text("id,path,labl\na,missing.wav,angry\n")
    assert main(["run", str(tmp_path / "bad.csv"), "--model", "tiny", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "extra columns kept in meta: labl ('labl': did you mean 'label'?)" in err, err


def test_a_reports_probe_section_names_random_weights_in_a_line_not_a_second_banner(tmp_path):
    # the checkpoint comparison of two tiny runs showed the random-weights banner three times: the page's own at the
    # top, then again inside "Probe on run A" and "Probe on run B"
    import dataclasses

    from workbench.analysis.probe import probe_run
    from workbench.labels import RANDOM_WEIGHTS_BANNER

    rf = probe_set(tmp_path, "run", separable=True, speakers=4, per_class=3)
    res = dataclasses.replace(probe_run(rf, n_boot=20), random_weights=True)
    alone, in_report = res.html(), res.html(in_report=True)
    assert alone.count("<blockquote>") == 1 and RANDOM_WEIGHTS_BANNER[:30] in alone  # a probe page of its own keeps it
    assert "<blockquote>" not in in_report and "random weights:" in in_report and "mean nothing" in in_report


def test_manifest_says_how_to_run_without_a_downloaded_checkpoint(tmp_path, monkeypatch, capsys):
    """The README's four commands: `workbench manifest` printed "next: workbench run my_wavs.csv --out runs/my_wavs",
    which offline ends in "iic/emotion2vec_plus_large: … cannot be reached". The README adds "add --model tiny to try it
    without weights"; the command now says it where no checkpoint is cached (and names $WORKBENCH_MODEL's model)."""
    import numpy as np
    import soundfile as sf

    monkeypatch.delenv("WORKBENCH_MODEL", raising=False)
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    (tmp_path / "wavs" / "angry").mkdir(parents=True)
    sf.write(tmp_path / "wavs" / "angry" / "a1.wav", np.zeros(1600, np.float32), 16000)
    assert main(["manifest", str(tmp_path / "wavs"), "-o", str(tmp_path / "m.csv"), "--label-from-folder"]) == 0
    out = capsys.readouterr().out
    after = out.split("next: ", 1)[1].splitlines()
    assert after[1].strip().startswith("(no emotion2vec+ checkpoint is cached here: add --model tiny"), after
    monkeypatch.setenv("WORKBENCH_MODEL", str(tmp_path / "my model"))
    assert main(["manifest", str(tmp_path / "wavs"), "-o", str(tmp_path / "m2.csv")]) == 0
    assert f"add --model '{tmp_path / 'my model'}' (your $WORKBENCH_MODEL)" in capsys.readouterr().out


def test_a_misspelt_checkpoint_folder_inside_a_folder_is_not_looked_up_as_a_hub_id(tmp_path, monkeypatch, capsys):
    """`--model models/demo-hed` (finetune wrote models/demo-head) has the shape of a hub id, owner/name, and was
    looked up on ModelScope: "is not in the local ModelScope cache and www.modelscope.cn cannot be reached"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    _checkpoint(tmp_path / "models" / "demo-head")
    (tmp_path / "a.wav").write_bytes(b"")
    assert main(["infer", "a.wav", "--model", "models/demo-hed"]) == 2
    err = capsys.readouterr().err
    assert "models/demo-hed: no such checkpoint directory" in err and "ModelScope cache" not in err, err
    assert "fix: check the folder name (the checkpoint folders here: models/demo-head)." in err, err
    from workbench.model.checkpoints import resolve_model  # a folder of no checkpoints, or a known id, stays a hub id
    (tmp_path / "iic").mkdir()
    assert resolve_model("iic/emotion2vec_plus_base").kind == "hub" and resolve_model("iic/other").kind == "hub"


def test_the_reports_metric_table_of_a_head_on_its_training_speakers_does_not_say_ok(tmp_path, monkeypatch):
    """The experiment report of `workbench run … --model HEAD` on the corpus the head trained on showed the speaker
    overlap in the banner, and "ok" in the check column beside WA, UAR and macro-F1."""
    import json
    import numpy as np
    from test_probe import CLASSES, synthetic_row, write_run
    from workbench.views import reporting

    ckpt = _checkpoint(tmp_path / "ckpt")
    (ckpt / "training_card.json").write_text(json.dumps({"speakers": {"train": ["spk0", "spk1"], "validation": ["spk2"],
                                                                        "test": ["spk3"]}}))
    rows = [synthetic_row(f"s{s}_{cls}_{r}", emotion=cls, speaker=f"spk{s}", pred=cls if r else "sad")
            for s in range(4) for cls in CLASSES for r in range(6)]
    rf = write_run(tmp_path / "run_ft", rows, np.random.default_rng(0).standard_normal((len(rows), 4)), model=str(ckpt))
    shown = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    out = reporting.metrics_section(rf.path, by=(), n_boot=50)
    table = next(h for h in shown if "95% bootstrap CI" in h)
    for name in ("WA", "UAR", "macro-F1"):
        row = table.split(f"<td>{name}</td>", 1)[1].split("</tr>", 1)[0]
        assert "not independent of the checkpoint&#x27;s training data" in row and ">ok<" not in row, row
    assert any("speaker overlap" in w for w in out["raw"]["training_overlap"])


def test_finetune_ends_with_the_commands_that_use_the_head(tmp_path):
    """`workbench finetune RUN --out models/demo-head` ended "use it with --model models/demo-head": an option, no
    command; now the run of the manifest with the head, its metrics and the comparison with the parent's run."""
    import shlex
    from types import SimpleNamespace

    from workbench.cli import build_parser
    from workbench.cli.finetune import finetune_next_steps

    result = SimpleNamespace(out=tmp_path / "models" / "demo head", run_dir=tmp_path / "runs" / "demo",
                             card={"data": {"manifest": "/data/demo.csv"}})
    lines = finetune_next_steps(result)
    assert lines[0] == "next:"
    commands = [shlex.split(line.split("   #")[0]) for line in lines[1:]]
    scored = str(tmp_path / "runs" / "demo head")
    assert commands[0] == ["workbench", "run", "/data/demo.csv", "--model", str(result.out), "--out", scored]
    assert commands[1] == ["workbench", "metrics", scored]
    assert commands[2] == ["workbench", "compare", str(result.run_dir), scored]
    for words in commands:  # each parses as typed
        build_parser([words[1]]).parse_args(words[1:])
    beside = SimpleNamespace(out=tmp_path / "runs" / "demo-head", run_dir=tmp_path / "runs" / "demo", card={})
    assert f"--out {tmp_path / 'runs' / 'demo-head-run'}" in finetune_next_steps(beside)[1]  # never the head's folder


def test_a_misspelt_key_step_or_template_in_an_experiment_file_names_the_closest_one(tmp_path, capsys):
    """`sed: 3`, a step `telefone` and `reports: [experiment_reprot]` were refused with every valid value listed and
    none named as the likely one, as the command line does for its options ("did you mean --scheme?")."""
    (tmp_path / "m.csv").write_text("id,path\na,a.wav\n")
    good = {"seed": "seed: 3", "step": "variants:\n  tel:\n    - name: telephone", "reports": "reports: [experiment_report]"}
    cases = {"seed": ("sed: 3", "unknown key(s) ['sed']; did you mean 'seed'? an experiment has"),
             "step": ("variants:\n  tel:\n    - name: telefone", "unknown preprocessing step 'telefone'; did you mean 'telephone'?"),
             "reports": ("reports: [experiment_reprot]", "which is not a built-in report template; did you mean 'experiment_report'?")}
    for kind, (bad, said) in cases.items():
        lines = [bad if k == kind else v for k, v in good.items()]
        (tmp_path / f"{kind}.yaml").write_text("manifest: m.csv\nmodel: tiny\n" + "\n".join(lines) + "\n")
        assert main(["run", str(tmp_path / f"{kind}.yaml"), "--out", str(tmp_path / f"run_{kind}")]) == 2
        err = capsys.readouterr().err
        assert said in err and "fix:" in err and "Traceback" not in err, (kind, err)


def test_a_comparisons_check_columns_use_the_screens_names_and_say_a_run_saw_its_speakers(tmp_path):
    """The checkpoint comparison page's check columns read "wa: …; macro_f1: …; uar_chance: …; never_predicted: …"
    (the keys of a dict), and "ok" beside the ΔWA of a head scored on the speakers it trained on."""
    import json
    import numpy as np
    from test_probe import CLASSES, synthetic_row, write_run
    import html

    from workbench.analysis.compare import compare_runs

    ckpt = _checkpoint(tmp_path / "ckpt")
    (ckpt / "training_card.json").write_text(json.dumps({"speakers": {"train": ["spk0", "spk1"], "validation": ["spk2"],
                                                                        "test": ["spk3"]}}))
    ids = [(f"s{s}_{cls}_{r}", cls, f"spk{s}") for s in range(4) for cls in CLASSES for r in range(3)]
    emb = np.random.default_rng(0).standard_normal((len(ids), 4))
    parent = write_run(tmp_path / "parent", [synthetic_row(i, emotion=c, speaker=s, pred="disgusted") for i, c, s in ids], emb)
    head = write_run(tmp_path / "head", [synthetic_row(i, emotion=c, speaker=s, pred=c if k % 2 else "sad")
                                         for k, (i, c, s) in enumerate(ids)], emb, model=str(ckpt))
    page = " ".join(compare_runs([parent.path, head.path], n_boot=50).html().split())
    for key in ("wa: ", "uar: ", "macro_f1: ", "uar_chance: ", "never_predicted: "):
        assert f"<td>{key}" not in page and f"; {key}" not in page, (key, page)
    assert "WA, UAR, macro-F1: zero-width interval" in page and "precision: " in page  # one note, its figures named together (walk18)
    against = page.split("Against the first run", 1)[1].split("</table>", 1)[0]
    assert "not independent of the checkpoint's training data" in html.unescape(against) and "<td>ok</td>" not in against, against


def test_the_variant_comparison_pages_check_column_uses_the_screens_names(tmp_path, monkeypatch):
    """The variant comparison page's check column read "delta_wa: zero-width interval …; delta_uar: …"."""
    import numpy as np
    from test_probe import CLASSES, synthetic_row, write_run
    from workbench.views import reporting

    rows = [synthetic_row(f"i{k}_{c}", emotion=c, speaker=f"s{k}", pred=c, variant=v)
            for v in ("raw", "telephone") for k in range(6) for c in CLASSES]
    rf = write_run(tmp_path / "run", rows, np.random.default_rng(0).standard_normal((len(rows), 4)))
    shown = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    reporting.comparison_section(rf.path, "raw")
    table = next(h for h in shown if "ΔWA [95% CI]" in h)
    assert "ΔWA, ΔUAR: zero-width interval" in table and "delta_wa" not in table and "delta_uar" not in table, table


def test_the_checkpoint_comparison_page_says_where_its_code_names_live():
    """The page told its reader to call `R.show_item(cmp.disagreements(top), i)` "in a live notebook": R and cmp are
    the template's own names, defined in no notebook the reader has open."""
    import json
    from pathlib import Path

    import workbench

    nb = json.loads((Path(workbench.__file__).parent / "templates" / "checkpoint_comparison.ipynb").read_text(encoding="utf-8"))
    text = next("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown" and "R.show_item" in "".join(c["source"]))
    assert "`checkpoint_comparison.ipynb`, beside it" in text and "(`R = wb.reporting`)" in text and "(`cmp`: the comparison" in text


def test_import_helps_say_what_no_map_and_no_revision_do(capsys):
    """`datasets import-hf --help` and `import-lhotse --help` said nothing of what happens without --map (or which hub
    revision without --revision); the help says it, and the words hold for the labels they name."""
    import pytest

    from workbench.data.corpora import map_label

    for command in ("import-hf", "import-lhotse"):
        with pytest.raises(SystemExit):
            main(["datasets", command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert "(default: none: a label that is a common emotion name or abbreviation, such as anger, joy or hap, gets its " \
               "emotion2vec+ class; any other keeps an empty emotion)" in out, out
        assert command != "import-hf" or "hub revision (default: the hub's latest)" in out
    assert (map_label("", "anger"), map_label("", "joy"), map_label("", "hap"), map_label("", "calm")) == ("angry", "happy", "happy", "")


def test_a_misspelt_class_to_explain_names_the_closest_one(tmp_path, capsys):
    """`explain RUN --class sadd` listed the classes and named none as the likely one."""
    import numpy as np
    from test_probe import CLASSES, synthetic_row, write_run

    rows = [synthetic_row(f"i{k}", emotion=c, speaker="s", pred=c) for k, c in enumerate(CLASSES)]
    rf = write_run(tmp_path / "run", rows, np.random.default_rng(0).standard_normal((len(rows), 4)), model="tiny")
    assert main(["explain", str(rf.path), "--item", "i0", "--class", "sadd"]) == 2
    err = capsys.readouterr().err
    assert "unknown class 'sadd'; did you mean 'sad'? the run's model has the classes" in err, err


def _head_on_its_speakers(tmp_path, *, repeats: int):
    """A checkpoint whose training card names spk0-spk2 (train, validation), and rows of spk0-spk3 over the test classes
    (every ``repeats``-th of each class predicted sad), with random embeddings."""
    import json
    import numpy as np
    from test_probe import CLASSES, synthetic_row

    ckpt = _checkpoint(tmp_path / "ckpt")
    (ckpt / "training_card.json").write_text(json.dumps({"speakers": {"train": ["spk0", "spk1"], "validation": ["spk2"],
                                                                        "test": ["spk3"]}}))
    rows = [synthetic_row(f"s{s}_{cls}_{r}", emotion=cls, speaker=f"spk{s}", pred=cls if r else "sad")
            for s in range(4) for cls in CLASSES for r in range(repeats)]
    return ckpt, rows, np.random.default_rng(0).standard_normal((len(rows), 4))


def test_the_figures_of_a_head_on_its_training_speakers_carry_the_training_data_mark(tmp_path, monkeypatch):
    """`metrics` on a fine-tuned head's run over the speakers it trained on printed the speaker overlap, and wrote
    confusion_raw.png and the other PNGs with nothing on them: a figure travels without the screen's warning."""
    import json
    from test_probe import write_run
    from workbench.runs.artifacts import TRAINING_OVERLAP_MARK
    from workbench.views import reporting

    ckpt, rows, emb = _head_on_its_speakers(tmp_path, repeats=6)
    head, plain = write_run(tmp_path / "head", rows, emb, model=str(ckpt)), write_run(tmp_path / "plain", rows, emb)
    for run, out in ((head, None), (head, tmp_path / "out"), (plain, None)):
        assert main(["metrics", str(run.path), *(["--out", str(out)] if out else [])]) == 0
        index = json.loads(((out or run.path) / "artifacts.json").read_text())
        marks = {name: meta.get("training_overlap_mark") for name, meta in index.items() if name.endswith(".png")}
        # which speakers of which head, not only the generic words
        want = "TRAINING DATA: speakers spk0, spk1, spk2 (3 of 4) trained head \"ckpt\"; not an independent test" if run is head else None
        assert marks and set(marks.values()) == {want} and want != TRAINING_OVERLAP_MARK, (run.path, out, marks)
        # metrics.json keeps the warning under training_overlap, and a reader of `flags` sees it too (it saw nothing)
        doc = json.loads(((out or run.path) / "metrics.json").read_text())["raw"]
        assert (doc["flags"].get("training_overlap", "").startswith("speaker overlap: 3 of the 4 speakers") and doc["training_overlap"]
                if run is head else "training_overlap" not in doc["flags"] and not doc["training_overlap"]), doc["flags"]
    shown = []  # the report's figures of that run carry it too
    monkeypatch.setattr(reporting, "show_html", lambda markup: None)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **kw: shown.append(kw))
    reporting.metrics_section(head.path, by=(), n_boot=20)
    assert shown and all(any("speaker overlap" in w for w in kw["overlap"]) for kw in shown)


def test_a_comparison_figure_with_a_run_on_its_training_data_carries_the_mark(tmp_path):
    """`compare PARENT HEAD --out DIR` wrote comparison.png with the head's WA and UAR and no word of its overlap."""
    import json
    from test_probe import write_run
    from workbench.analysis.compare.runs import compare_runs, write_runs_comparison
    from workbench.runs.artifacts import TRAINING_OVERLAP_MARK

    ckpt, rows, emb = _head_on_its_speakers(tmp_path, repeats=3)
    parent, head = write_run(tmp_path / "parent", rows, emb), write_run(tmp_path / "head", rows, emb, model=str(ckpt))
    write_runs_comparison(compare_runs([parent.path, head.path], n_boot=20), tmp_path / "cmp")
    meta = json.loads((tmp_path / "cmp" / "artifacts.json").read_text())["comparison.png"]
    assert meta["training_overlap_mark"] == "TRAINING DATA: run B: speakers spk0, spk1, spk2 (3 of 4) trained head \"ckpt\"; not an independent test"
    assert meta["training_overlap_mark"] != TRAINING_OVERLAP_MARK
    assert any(w.startswith("run B: speaker overlap") for w in meta["training_overlap"]), meta


def test_the_training_data_mark_names_the_corpus_in_short():
    """The figures' mark said "the checkpoint saw this corpus or these speakers in training" of every overlap; it now
    names the corpus and stage (or the speakers and head) the run's warnings name, without their sources."""
    from workbench.data.cards import Overlap, overlap_short
    from workbench.runs.artifacts import TRAINING_OVERLAP_MARK, training_overlap_mark

    seen = Overlap("iic/emotion2vec_plus_large", "IEMOCAP", "fine-tuning", "seen", True, 12, "", "the paper, table 1").message()
    maybe = Overlap("iic/emotion2vec_plus_large", "MELD", "pseudo-labelling", "possible", False, None, "named in the card", "x").message()
    assert overlap_short([seen, maybe]) == ("IEMOCAP was in emotion2vec_plus_large's fine-tuning data; "
                                            "MELD may be in emotion2vec_plus_large's pseudo-labelling data")
    assert training_overlap_mark([seen]).startswith("TRAINING DATA: IEMOCAP was in emotion2vec_plus_large's fine-tuning data;")
    assert training_overlap_mark(["a warning of another shape"]) == TRAINING_OVERLAP_MARK  # nothing to shorten: the generic words
    more = [Overlap("iic/emotion2vec_plus_large", f"C{i}", "pseudo-labelling", "possible", False, None, "named", "x").message() for i in range(9)]
    long = overlap_short([seen] + more)
    assert len(long) <= 120 and long.endswith("…")


def test_the_training_data_mark_is_carried_by_the_warning_not_read_back_out_of_its_sentence(tmp_path):
    """overlap_short parsed the warnings' sentences with regular expressions: a head folder named ``head; v2`` came out
    as ``trained head head`` (the pattern stopped at the sentence's "; "), and any rewording of a sentence would have
    dropped the mark to the generic words.  Each warning now carries its short form, built beside its sentence."""
    import json
    import pandas as pd
    from workbench.data.cards import Overlap, OverlapWarning, overlap_short, prefixed, speaker_overlap_message
    from workbench.runs.artifacts import training_overlap_mark

    ckpt = _checkpoint(tmp_path / "head; v2")
    (ckpt / "training_card.json").write_text(json.dumps({"speakers": {"train": ["spk0"], "validation": ["spk1"], "test": ["spk2"]}}))
    w = speaker_overlap_message(str(ckpt), pd.DataFrame({"speaker": ["spk0", "spk1", "spk2"]}))
    assert w.startswith("speaker overlap: 2 of the 3 speakers evaluated here (spk0, spk1)")  # the sentence as before
    assert w.short == "speakers spk0, spk1 (2 of 3) trained head \"head; v2\""
    assert training_overlap_mark([w]) == "TRAINING DATA: speakers spk0, spk1 (2 of 3) trained head \"head; v2\"; not an independent test"
    # a comparison's run prefix goes before the short form too, and a warning of the same words without one says nothing short
    assert overlap_short([prefixed(w, "run B: ")]) == "run B: speakers spk0, spk1 (2 of 3) trained head \"head; v2\""
    assert overlap_short([str(w)]) == ""
    seen = Overlap("m/ckpt", "IEMOCAP", "pre-training", "seen", False, 12, "", "the paper").message()
    assert isinstance(seen, OverlapWarning) and seen.short == "IEMOCAP was in ckpt's pre-training data (its audio; labels not used)"
    assert json.loads(json.dumps([seen])) == [str(seen)]  # it is still the string the JSON keeps
