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


def test_without_a_cache_each_file_is_hashed_once_and_keyed_as_with_one(tmp_path, tiny_model, monkeypatch):
    """Issue #28: the engine hashed every file for a cache lookup even when there was no cache, then the decoder hashed it again."""
    from workbench import files
    from workbench.data.manifest import Item
    from workbench.engine.core import _SHA_MEMO, Engine, PredictionCache, WorkItem

    paths = []
    for i in range(3):
        p = tmp_path / f"h{i}.wav"
        sf.write(p, speech_like(16000, 1.0, seed=20 + i), 16000)
        paths.append(p)
    hashed = []
    real = files.sha256_file
    monkeypatch.setattr(files, "sha256_file", lambda path, **kw: hashed.append(str(path)) or real(path, **kw))
    _SHA_MEMO.clear()
    work = [WorkItem(Item(id=p.stem, path=str(p)), p) for p in paths]
    plain = [s for chunk in Engine(tiny_model, workers=0).score(work) for s in chunk]
    assert sorted(hashed) == sorted(map(str, paths))  # once each
    cached = [s for chunk in Engine(tiny_model, workers=0, cache=PredictionCache(tmp_path / "cache")).score(work) for s in chunk]
    assert [s.cache_key for s in plain] == [s.cache_key for s in cached] and all(len(s.cache_key) == 64 for s in plain)


def _work(tmp_path, n):
    from workbench.data.manifest import Item
    from workbench.engine.core import WorkItem

    out = []
    for i in range(n):
        p = tmp_path / f"a{i}.wav"
        sf.write(p, speech_like(16000, 1.0 + 0.2 * i, seed=40 + i), 16000)
        out.append(WorkItem(Item(id=f"a{i}", path=str(p)), p))
    return out


def test_in_process_chunks_decode_the_next_one_ahead_and_keep_their_order(tmp_path, tiny_model, monkeypatch):
    """Issue #28: the next chunk is decoded in a thread while the model scores this one (what the thread has not done
    when the model needs it is decoded in the model's thread); results stay in order and equal."""
    import collections
    import threading

    from workbench.engine import core
    from workbench.engine.core import Engine

    work = _work(tmp_path, 5)
    where = []
    real = core.prepare
    monkeypatch.setattr(core, "prepare", lambda job, ctx, *a: where.append((job.work.item.id, threading.current_thread().name)) or real(job, ctx, *a))
    chunked = [s for chunk in Engine(tiny_model, workers=0).score(work, chunk_size=2) for s in chunk]
    assert [s.item.id for s in chunked] == [f"a{i}" for i in range(5)]
    done = collections.Counter(i for i, _ in where)
    assert set(done) == {f"a{i}" for i in range(5)} and max(done.values()) <= 2  # at most the one the thread was in, twice
    assert {t for i, t in where if i in ("a0", "a1")} == {"workbench-decode-ahead"}  # the first chunk: in the thread
    assert {t for _, t in where} <= {"workbench-decode-ahead", "MainThread"}
    whole = [s for chunk in Engine(tiny_model, workers=0).score(work, chunk_size=64) for s in chunk]
    for a, b in zip(chunked, whole):
        np.testing.assert_allclose(a.prediction.scores, b.prediction.scores, atol=1e-6)


def test_an_interrupt_while_decoding_ahead_reaches_the_caller(tmp_path, tiny_model, monkeypatch):
    import pytest

    from workbench.engine import core
    from workbench.engine.core import Engine

    work = _work(tmp_path, 4)
    calls = []
    real = core.prepare

    def prepare(job, ctx, *a):
        calls.append(job.work.item.id)
        if job.work.item.id == "a2":
            raise KeyboardInterrupt  # Ctrl-C's check firing while the next chunk is decoded
        return real(job, ctx, *a)

    monkeypatch.setattr(core, "prepare", prepare)
    chunks = Engine(tiny_model, workers=0).score(work, chunk_size=2)
    assert [s.item.id for s in next(chunks)] == ["a0", "a1"]
    with pytest.raises(KeyboardInterrupt):
        next(chunks)


def test_cache_entries_edited_or_foreign_are_scored_again_not_served(tmp_path, tiny_model):
    """A shared cache's entry whose audio facts are not the mapping the engine writes (not JSON, NaN, a list), or whose
    scores are not this model's number of classes, sank the whole run (AttributeError) or gave an 'ok' row of NaN scores
    whose part was then dropped; such an entry is recomputed like a damaged one."""
    from workbench.engine.core import Engine, PredictionCache

    work = _work(tmp_path, 5)
    root = tmp_path / "cache"
    first = [s for chunk in Engine(tiny_model, workers=0, cache=PredictionCache(root)).score(work) for s in chunk]
    entries = sorted(root.glob("*/*.npz"), key=lambda p: [s.cache_key for s in first].index(p.stem))
    for path, edit in zip(entries, [{"audio_info": "{not json"}, {"audio_info": "NaN"}, {"audio_info": "[1, 2]"},
                                    {"logits": np.zeros(3, np.float32)}, {"n_frames": np.arange(3)}]):
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        arrays.update({k: np.array(v) for k, v in edit.items()})
        np.savez(path, **arrays)
        assert path.is_file()
    again = [s for chunk in Engine(tiny_model, workers=0, cache=PredictionCache(root)).score(work) for s in chunk]
    assert [s.ok for s in again] == [True] * 5 and not any(s.cached for s in again)
    for a, b in zip(first, again):
        assert len(b.prediction.scores) == len(tiny_model.info.labels) and np.isfinite(b.prediction.scores).all()
        np.testing.assert_allclose(a.prediction.scores, b.prediction.scores, atol=1e-6)
        assert b.info["audio_seconds"] == a.info["audio_seconds"]


def _processed_where(monkeypatch):
    """Record each item ``core._process`` decodes and the thread it ran in."""
    import threading

    from workbench.engine import core

    seen = []
    real = core._process
    monkeypatch.setattr(core, "_process", lambda w, cfg: seen.append((w.item.id, threading.current_thread().name)) or real(w, cfg))
    return seen


def _same_results(a, b):
    assert [(s.item.id, s.variant.name, s.ok) for s in a] == [(s.item.id, s.variant.name, s.ok) for s in b]
    for x, y in zip(a, b):
        if x.ok:
            np.testing.assert_array_equal(x.prediction.scores, y.prediction.scores)
            assert x.info["facts"] == y.info["facts"] and x.cache_key == y.cache_key
        else:
            assert x.error["text"] == y.error["text"]


def test_a_prefetched_first_chunk_is_decoded_once_in_its_thread_with_the_same_results(tmp_path, tiny_model, monkeypatch):
    """Issue #28: a run's first chunk is decoded while the model loads (driver._prefetch); the engine uses it as it is."""
    import collections

    from workbench.audio.intake import AudioConfig
    from workbench.data.manifest import Item
    from workbench.engine.core import Engine, Prefetch, WorkItem

    work = _work(tmp_path, 5)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    work.insert(1, WorkItem(Item(id="bad", path=str(bad)), bad))  # a failed row inside the prefetched chunk
    plain = [s for chunk in Engine(tiny_model, workers=0).score(work, chunk_size=3) for s in chunk]
    seen = _processed_where(monkeypatch)
    prefetch = Prefetch(work[:3], AudioConfig())
    fetched = [s for chunk in Engine(tiny_model, workers=0).score(work, chunk_size=3, prefetch=prefetch) for s in chunk]
    _same_results(plain, fetched)
    done = collections.Counter(i for i, _ in seen)  # each item decoded once; after the first chunk, the one the thread
    assert set(done) == {w.item.id for w in work} and sum(done.values()) <= len(work) + 1  # ahead was in may be twice
    assert all(done[i] == 1 for i in ("a0", "bad", "a1"))
    assert {i for i, t in seen if t == "workbench-prefetch"} == {"a0", "bad", "a1"}


def test_a_prefetch_made_for_other_settings_or_variants_is_not_used(tmp_path, tiny_model, monkeypatch):
    from dataclasses import replace

    from workbench.audio.intake import AudioConfig
    from workbench.audio.variants import Variant
    from workbench.engine.core import Engine, Prefetch

    work = _work(tmp_path, 3)
    plain = [s for chunk in Engine(tiny_model, workers=0).score(work, chunk_size=3) for s in chunk]
    seen = _processed_where(monkeypatch)
    other_settings = Prefetch(work, AudioConfig(mixdown="first"))
    _same_results(plain, [s for c in Engine(tiny_model, workers=0).score(work, chunk_size=3, prefetch=other_settings) for s in c])
    trimmed = Variant.from_dict({"name": "trimmed", "steps": [{"name": "trim", "top_db": 30}]})
    other_variants = Prefetch([replace(w, variants=(trimmed,)) for w in work], AudioConfig())
    _same_results(plain, [s for c in Engine(tiny_model, workers=0).score(work, chunk_size=3, prefetch=other_variants) for s in c])
    # each prefetch decoded its items in its thread, and the engine decoded them again for what it was asked
    assert sorted(i for i, t in seen if t != "workbench-prefetch") == sorted(["a0", "a1", "a2"] * 2)
