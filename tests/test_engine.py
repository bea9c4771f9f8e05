"""The one engine: a worker that dies takes no other item with it; inputs of every kind."""

from __future__ import annotations

import os

import numpy as np
import soundfile as sf

from conftest import speech_like
from workbench.audio.intake import load
from workbench.engine.core import score_sources


class KillsTheWorker:
    """Unpickling this in a decoding process ends that process at once, as a crashing codec would."""

    def __reduce__(self):
        return (os._exit, (3,))


def test_a_dead_decoding_worker_fails_only_its_item(tmp_path, tiny_model):
    """The main process never decodes the item that killed a worker: it is retried alone in a fresh process."""
    paths = []
    for i in range(6):
        p = tmp_path / f"c{i}.wav"
        sf.write(p, speech_like(16000, 1.0 + 0.1 * i, seed=i), 16000)
        paths.append(p)
    sources = paths[:3] + [KillsTheWorker()] + paths[3:]
    out = score_sources(tiny_model, sources, workers=2, chunk_size=4)
    assert [s.ok for s in out] == [True, True, True, False, True, True, True]
    assert "the decoder's process died on this input" in out[3].error["text"] and out[3].error["fix"]
    # the same predictions as scoring the good files alone, in this process
    alone = score_sources(tiny_model, paths, workers=0)
    for a, b in zip([s for s in out if s.ok], alone):
        np.testing.assert_allclose(a.prediction.scores, b.prediction.scores, atol=1e-6)


def test_paths_bytes_arrays_and_audio_give_the_same_prediction(tmp_path, tiny_model):
    y = speech_like(16000, 1.5, seed=7)
    p = tmp_path / "a.wav"
    sf.write(p, y, 16000, subtype="FLOAT")
    out = score_sources(tiny_model, [p, p.read_bytes(), (y, 16000), load(p)], workers=0)
    assert all(s.ok for s in out)
    for s in out[1:]:
        np.testing.assert_allclose(s.prediction.scores, out[0].prediction.scores, atol=1e-6)
