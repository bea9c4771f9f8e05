"""The honest test of attribution: a checkpoint trained on planted cues, and methods that must find them.

The ``cue`` checkpoint (:mod:`workbench.explain.cue`) is the real tiny
emotion2vec architecture trained here, seeded, on synthetic clips whose class
is decided by a 300 ms cue at a random time.  On held-out clips (a seed the
training never drew from) every attribution method must put its evidence on
the cue: the share of positive attribution mass inside the cue span and the
IoU of its top-k frames with the cue, far above what a random map and a
uniform map score.  A re-initialised network must lose it (the model
randomisation check).  Thresholds and their measured values are in each
test's docstring.

Training takes minutes on the shared 2-core machine, so every test here is
``slow``; the checkpoint is trained once per session (``WORKBENCH_CACHE``).
"""

from __future__ import annotations

import numpy as np
import pytest

from workbench.explain.attribution import ClassScore, integrated_gradients, tf_occlusion, time_occlusion
from workbench.explain.cue import CUE_BANNER, CUE_LABELS, cue_checkpoint_info, make_cue_set
from workbench.explain.faithfulness import cue_overlap, curves, randomised_networks
from workbench.labels import LABEL_KEYS

pytestmark = pytest.mark.slow

METHODS = {"ig": integrated_gradients, "occlusion": time_occlusion, "tf-occlusion": tf_occlusion}
N_CLIPS = 12


@pytest.fixture(scope="session")
def cue_model():
    import torch

    from workbench.model.network import load_model

    torch.set_num_threads(1)
    return load_model("cue", device="cpu")


@pytest.fixture(scope="session")
def cue_clips(cue_model):
    """Held-out cue clips (seed 777, never drawn in training), each with whether the model's decision depends on its cue."""
    clips = make_cue_set(2 * N_CLIPS, seed=777, labels=("angry", "happy", "sad"))
    out = []
    for c in clips:
        cut = c.y.copy()
        cut[int(c.start * 16000): int(c.end * 16000)] = 0.0
        with_cue, without = cue_model.predict([c.y, cut])
        out.append((c, with_cue.label == c.label and without.label != c.label))
    return out


@pytest.fixture(scope="session")
def held_out(cue_clips):
    """Clips whose prediction is right and flips when the cue is silenced: there the cue IS the evidence.

    Measured (seed 0 checkpoint, 600 steps): all 8 angry and 8 happy clips qualify, none of the 8 sad
    clips: the network did not learn the 3 kHz tone and answers 'sad' by default (held-out: every
    no-cue clip is called sad, accuracy 0.75), so a sad clip's cue is not what decides it.
    """
    clips = [c for c, depends in cue_clips if depends]
    assert len(clips) >= N_CLIPS, "the checkpoint no longer relies on the beeps and chirps: retrain or check the recipe"
    return clips[:N_CLIPS]


@pytest.fixture(scope="session")
def overlaps(cue_model, held_out):
    """Cue overlap of each method on each held-out clip, for the trained and a fully re-initialised network."""
    scorer = ClassScore(cue_model)
    (_, random_net), = randomised_networks(cue_model, "full", seed=1)
    scorer_random = ClassScore(cue_model, network=random_net)
    rng = np.random.default_rng(0)
    out = {k: [] for k in [*METHODS, "random map", "uniform map"]}
    out.update({f"{k} (randomised network)": [] for k in METHODS})
    for c in held_out:
        for name, fn in METHODS.items():
            out[name].append(cue_overlap(fn(scorer, c.y, c.label).frame_relevance, c.start, c.end))
            out[f"{name} (randomised network)"].append(cue_overlap(fn(scorer_random, c.y, c.label).frame_relevance, c.start, c.end))
        T = -(-len(c.y) // 320)
        out["random map"].append(cue_overlap(rng.random(T), c.start, c.end))
        out["uniform map"].append(cue_overlap(np.ones(T), c.start, c.end))
    return {k: {m: float(np.mean([d[m] for d in v])) for m in ("mass_in_cue", "top_k_iou")} for k, v in out.items()}


def test_cue_checkpoint_loads_through_funasr_and_says_what_it_is(cue_model, cue_clips):
    """Loaded by name like ``tiny``; its banner is on the model info; it learnt the beeps and the chirps.

    Measured: held-out accuracy 0.75 over the four classes (16/16 angry, happy and sad right; 16/16
    no-cue clips called sad); every angry and happy clip flips when its cue is silenced.
    """
    assert cue_model.info.warning == CUE_BANNER
    assert cue_model.info.kind == "trained" and cue_model.info.id == "cue" and not cue_model.random_weights
    marker = cue_checkpoint_info(cue_model.info.path)
    assert marker["held_out_accuracy"] >= 0.7 and marker["warning"] == CUE_BANNER
    for label in ("angry", "happy"):
        assert np.mean([d for c, d in cue_clips if c.label == label]) >= 0.9
    assert set(CUE_LABELS) <= set(LABEL_KEYS)


def test_attribution_finds_the_planted_cue(overlaps):
    """Every method puts its mass on the cue and its top frames on the cue's frames.

    The cue is 300 ms of a 1 s clip (15 of 50 frames), so a uniform map scores
    mass 0.30 and a random map about 0.30 mass and 0.16 IoU.  Required for each
    method: mass ≥ 0.55 (uniform + 0.25) and top-k IoU ≥ random IoU + 0.10.

    Measured on these 12 clips (mean mass / IoU): ig 0.918 / 0.292, occlusion
    0.927 / 0.789, tf-occlusion 0.664 / 0.506; random map 0.290 / 0.156,
    uniform map 0.300 / 0.027.  IG's IoU is low although 92 % of its mass is
    in the cue: per-sample gradients put that mass on a few frames, so its
    top 15 frames spill outside; hence the IoU margin of 0.10, not more.
    """
    lines = [f"{k}: {v}" for k, v in overlaps.items()]
    for name in METHODS:
        got = overlaps[name]
        assert got["mass_in_cue"] >= overlaps["uniform map"]["mass_in_cue"] + 0.25, lines
        assert got["mass_in_cue"] >= overlaps["random map"]["mass_in_cue"] + 0.25, lines
        assert got["top_k_iou"] >= overlaps["random map"]["top_k_iou"] + 0.10, lines
        assert got["top_k_iou"] >= overlaps["uniform map"]["top_k_iou"] + 0.10, lines


def test_model_randomisation_separates(overlaps):
    """Re-initialising the network's weights takes the evidence off the cue (Adebayo et al.'s sanity check).

    Required: the trained network's cue mass exceeds the randomised network's by ≥ 0.2 for each method.
    Measured (mass, trained → fully re-initialised): ig 0.918 → 0.316, occlusion 0.927 → 0.055,
    tf-occlusion 0.664 → 0.235.
    """
    for name in METHODS:
        assert overlaps[name]["mass_in_cue"] >= overlaps[f"{name} (randomised network)"]["mass_in_cue"] + 0.2, overlaps


def test_deleting_the_evidence_first_beats_a_random_order(cue_model, held_out):
    """On cue clips, deleting occlusion's most relevant frames first drops the class faster than a random order."""
    scorer = ClassScore(cue_model)
    rng = np.random.default_rng(0)
    gaps = []
    for c in held_out[:6]:
        a = time_occlusion(scorer, c.y, c.label)
        mine = curves(scorer, c.y, a.frame_relevance, c.label, steps=10)
        rand = curves(scorer, c.y, rng.random(len(a.frame_relevance)), c.label, steps=10)
        gaps.append(rand.deletion_auc - mine.deletion_auc)
    assert np.mean(gaps) >= 0.1, gaps
