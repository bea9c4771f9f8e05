"""Hostile inputs of the third round: each test builds the input, runs the real component, and checks the refusal
(or the bound) that the old code lacked."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from workbench import cli


def run_cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("round3_export") / "export"
    rc, _, err = run_cli("model", "export-onnx", "--model", "tiny", "--out", out, "--no-check")
    assert rc == 0, err
    return out


def _external_copy(export: Path, dst: Path, location: str) -> Path:
    """A copy of ``export`` whose largest initialiser keeps its bytes in ``location`` (an external data file), with
    model.json's recorded sha256 updated, as someone who hands the folder on would do."""
    import onnx

    shutil.copytree(export, dst)
    proto = onnx.load(str(dst / "model.onnx"))
    init = max(proto.graph.initializer, key=lambda t: len(t.raw_data))
    init.ClearField("raw_data")
    init.data_location = onnx.TensorProto.EXTERNAL
    entry = init.external_data.add()
    entry.key, entry.value = "location", location
    onnx.save(proto, str(dst / "model.onnx"))
    meta = json.loads((dst / "model.json").read_text(encoding="utf-8"))
    for graph in (meta.get("check") or {}).get("graphs", {}).values():
        graph["sha256"] = hashlib.sha256((dst / "model.onnx").read_bytes()).hexdigest()
    (dst / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    return dst


@pytest.mark.parametrize("location", ["weights.bin", "../../../../../../etc/passwd"])
def test_an_onnx_graph_with_external_data_is_refused_before_onnx_runtime_reads_it(tiny_export, tmp_path, location):
    """The external file's bytes are outside the graph's sha256 (the checksum and the export check's record): a
    zero-filled weights.bin beside model.onnx loaded and scored as if it were the checked export."""
    from workbench.errors import ModelError
    from workbench.model.onnx_backend import load_onnx_model

    d = _external_copy(tiny_export, tmp_path / "ext", location)
    (d / "weights.bin").write_bytes(b"\0" * (1 << 20))
    with pytest.raises(ModelError) as e:
        load_onnx_model(d)
    assert "external data" in str(e.value) and e.value.fix and "model.onnx" in str(e.value)


def _sparse(path: Path, size: int) -> Path:
    """A file of ``size`` zero bytes that takes no room on disk (what a hostile folder can hold for free)."""
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@pytest.fixture
def tiny_copy(tiny_model, tmp_path) -> Path:
    from workbench.model.checkpoints import resolve_model

    d = tmp_path / "ckpt"
    shutil.copytree(resolve_model("tiny").model, d)
    return d


@pytest.mark.parametrize("name", ["training_card.json", "WORKBENCH_RANDOM_CHECKPOINT.json"])
def test_a_checkpoints_marker_or_card_is_read_under_a_cap(tiny_copy, name):
    """A sparse 6 GB training_card.json (or random-weights marker) ended `workbench model info` in MemoryError; they
    are now refused unread past a megabyte, naming the file, the cap and the fix."""
    from workbench.errors import ModelError
    from workbench.model.generated import checkpoint_warning, random_checkpoint_info

    _sparse(tiny_copy / name, 3_000_000)
    with pytest.raises(ModelError) as e:
        (checkpoint_warning if name == "training_card.json" else random_checkpoint_info)(tiny_copy)
    assert "1,000,000" in str(e.value) and name in str(e.value) and e.value.fix


def test_a_checkpoints_configuration_json_is_read_under_a_cap(tiny_copy):
    from workbench.errors import ModelError
    from workbench.model.checkpoint_safety import check_checkpoint

    _sparse(tiny_copy / "configuration.json", 3_000_000)
    with pytest.raises(ModelError) as e:
        check_checkpoint(tiny_copy)
    assert "1,000,000" in str(e.value) and "configuration.json" in str(e.value)


def test_an_onnx_model_json_is_read_under_a_cap(tiny_export, tmp_path):
    from workbench.errors import ModelError
    from workbench.model.onnx_backend import read_meta

    d = tmp_path / "big_meta"
    shutil.copytree(tiny_export, d)
    _sparse(d / "model.json", 3 << 20)
    with pytest.raises(ModelError) as e:
        read_meta(d)
    assert f"{1 << 20:,}" in str(e.value) and "model.json" in str(e.value)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    from workbench.demo import DEMO_DATA

    out = tmp_path_factory.mktemp("round3_run") / "run"
    rc, _, err = run_cli("run", DEMO_DATA / "manifest.csv", "--model", "tiny", "--out", out)
    assert rc == 0, err
    return out


def test_a_run_folders_summary_over_the_cap_is_refused_unread(small_run, tmp_path, monkeypatch):
    """summary.json was read whole: a 6 GB sparse one ended `workbench metrics` in MemoryError.  The cap is the run
    folder's (512 MB), lowered here so the file stays small."""
    from workbench.runs import artifacts
    from workbench.runs.folder import RunFolder, RunFolderError

    d = tmp_path / "run"
    shutil.copytree(small_run, d)
    monkeypatch.setattr(artifacts, "OUTPUT_MAX_BYTES", 1000)
    _sparse(d / "summary.json", 5000)
    with pytest.raises(RunFolderError) as e:
        RunFolder(d).summary
    assert "5,000 bytes" in str(e.value) and "cap" in str(e.value) and e.value.fix


def _npz_bomb(path: Path, unpacked: int) -> Path:
    """An .npz whose one array is ``unpacked`` bytes of zeros, deflated to about a thousandth of that."""
    import zipfile

    import numpy as np

    head = np.lib.format.header_data_from_array_1_0(np.zeros((1, 2), np.float32))
    head["shape"] = (unpacked // 8, 2)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z, z.open("xy.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, head)
        for _ in range(unpacked >> 20):
            f.write(bytes(1 << 20))
    return path


def test_an_npz_output_that_unpacks_past_the_cap_is_refused_unread(small_run, tmp_path, monkeypatch):
    """A 2 MB projection_tsne_cache.npz of zeros unpacked to 2.3 GB in `workbench embeddings --project tsne` (np.load
    of every array).  The cap (512 MB) is lowered here so the bomb stays small."""
    from workbench.runs import artifacts
    from workbench.runs.folder import RunFolder, RunFolderError

    d = tmp_path / "run"
    shutil.copytree(small_run, d)
    monkeypatch.setattr(artifacts, "OUTPUT_MAX_BYTES", 4 << 20)
    bomb = _npz_bomb(d / "projection_tsne_cache.npz", 16 << 20)
    assert bomb.stat().st_size < (1 << 20)
    with pytest.raises(RunFolderError) as e:
        RunFolder(d).artifact("projection_tsne_cache.npz")
    assert "unpacks to 16,777," in str(e.value) and "cap" in str(e.value) and e.value.fix


def test_an_npy_output_whose_header_claims_more_than_the_file_holds_is_refused(small_run, tmp_path):
    import numpy as np

    from workbench.runs.folder import RunFolder, RunFolderError

    d = tmp_path / "run"
    shutil.copytree(small_run, d)
    head = np.lib.format.header_data_from_array_1_0(np.zeros((1, 2), np.float32))
    head["shape"] = (10 ** 12, 32)
    with open(d / "liar.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, head)
        f.write(bytes(256))
    with pytest.raises(RunFolderError) as e:
        RunFolder(d).artifact("liar.npy")
    assert "declares an array of 128,000,000,000,000 bytes" in str(e.value)
    np.save(d / "fine.npy", np.arange(5))
    assert RunFolder(d).artifact("fine.npy").tolist() == [0, 1, 2, 3, 4]


def test_infers_summary_shows_a_file_name_with_a_line_break_on_one_line(tmp_path):
    """A file named ``a<LF>b.wav`` (legal on POSIX) printed its second half as a row of its own in infer's table and
    in each finding line, so a name could forge a result row (``ok.wav  happy  0.990 …``)."""
    from workbench.demo import DEMO_DATA

    clip = tmp_path / "x\nok.wav  happy      0.990  forged.wav"
    shutil.copy(DEMO_DATA / "happy_en_44k.wav", clip)
    long = tmp_path / ("y" * 240 + ".wav")
    shutil.copy(DEMO_DATA / "happy_en_44k.wav", long)
    rc, out, err = run_cli("infer", clip, long, "--model", "tiny", "--out", tmp_path / "out")
    assert rc == 0, err
    assert not any(line.startswith("ok.wav") for line in out.splitlines()), out
    assert "x\\nok.wav" in out
    assert max(len(line) for line in out.splitlines()) < 300, "a 244-character name widened every row"


@pytest.mark.parametrize("hidden", ["\u200b", "\u200d", "\u2060", "\ufeff"])
def test_zero_width_characters_in_data_are_shown_in_reports(hidden):
    """Two speakers "spk1" and "spk<ZWSP>1" are two groups for a speaker-independent split but read as one in a report."""
    from workbench.views.html import esc

    shown = esc(f"spk{hidden}1")
    assert hidden not in shown and repr(hidden)[1:-1] in shown


def test_widgets_escape_bidirectional_controls_as_the_reports_do():
    """The widgets' HTML escaped markup only: a speaker "\\u202espk" showed the rest of its line reversed."""
    from workbench.views.viewbase import _esc

    shown = _esc("clip\u202eVAW.exe <b>")
    assert "\u202e" not in shown and "\\u202e" in shown and "&lt;b&gt;" in shown


def test_a_cache_entry_is_read_without_following_links_at_the_moment_of_reading(tiny_model, tmp_path):
    """PredictionCache.get looked for links, then _read_entry opened the entry by name: an entry (or shard folder)
    swapped for a link in between (a shared --cache-dir) was read through it, and one swapped for a FIFO hung the run.
    The read itself now refuses what the look refused."""
    import os

    from conftest import speech_like
    from workbench.engine.prediction_cache import PredictionCache, _read_entry
    from workbench.files import UnsafePathError

    pred = tiny_model.predict([speech_like(16000, 1.0)])[0]
    real = PredictionCache(tmp_path / "real")
    real.put("ab" + "1" * 62, pred)
    root = tmp_path / "shared"
    (root / "cd").mkdir(parents=True)
    entry = root / "cd" / ("cd" + "2" * 62 + ".npz")
    entry.symlink_to(real._path("ab" + "1" * 62))
    with pytest.raises(OSError):
        _read_entry(entry, root)
    (root / "ef").symlink_to(tmp_path / "real" / "ab")
    with pytest.raises((OSError, UnsafePathError)):
        _read_entry(root / "ef" / ("ab" + "1" * 62 + ".npz"), root)
    fifo = root / "cd" / ("cd" + "3" * 62 + ".npz")
    os.mkfifo(fifo)
    assert _read_entry(fifo, root) is None  # opened without waiting for a writer, and not a regular file
    assert _read_entry(real._path("ab" + "1" * 62), real.root)["logits"].shape == pred.logits.shape


def _parquet_bomb(path: Path, rows: int, note_chars: int, **extra) -> Path:
    """A parquet table of ``rows`` rows sharing one note of ``note_chars`` characters: parquet stores the note once (a
    dictionary) and the rows as run lengths, so the file takes about a thousandth of what it holds once read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    block = min(rows, 10_000)
    columns = {"id": pa.array([f"i{i}" for i in range(block)]), "path": pa.array(["a.wav"] * block),
               "notes": pa.array(["x" * note_chars] * block), **{k: pa.array([v] * block) for k, v in extra.items()}}
    table = pa.table(columns)
    with pq.ParquetWriter(path, table.schema, compression="zstd") as w:
        for _ in range(rows // block):
            w.write_table(table)
    return path


def test_a_parquet_manifest_that_unpacks_a_thousandfold_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """A 1.2 MB manifest.parquet (300,000 rows of one 4,000-character note) took `workbench run` to 2.8 GB before any
    check; the cap (512 MB once read, or 100 times the stored size) is lowered here so the table stays small."""
    from workbench.data import manifest
    from workbench.errors import ConfigError

    bomb = _parquet_bomb(tmp_path / "m.parquet", 20_000, 2_000)
    monkeypatch.setattr(manifest, "TABLE_MAX_BYTES", 1_000_000)
    with pytest.raises(ConfigError) as e:
        manifest.read_manifest(bomb, validate_files=False)
    assert "once read" in str(e.value) and "times what its columns take stored" in str(e.value) and "m.parquet" in str(e.value)


def test_a_results_table_that_unpacks_a_thousandfold_is_refused_before_it_is_read(small_run, tmp_path, monkeypatch):
    from workbench.runs import artifacts
    from workbench.runs.folder import RunFolder, RunFolderError

    d = tmp_path / "run"
    shutil.copytree(small_run, d)
    _parquet_bomb(d / "results.parquet", 20_000, 2_000, variant="raw", status="ok")
    monkeypatch.setattr(artifacts, "OUTPUT_MAX_BYTES", 1_000_000)
    with pytest.raises(RunFolderError) as e:
        RunFolder(d).results()
    assert "once read" in str(e.value) and e.value.fix
    assert len(RunFolder(small_run).results()) == 9  # a real table passes the same check


def test_the_analysis_objects_html_escapes_bidirectional_and_zero_width_characters(small_run, tmp_path):
    """compare_runs' and the probe's HTML (shown in notebooks and reports) escaped markup only: a run named
    'run\\u202eA' showed the rest of its heading reversed."""
    from workbench.analysis.compare.runs import compare_runs

    d = tmp_path / "run\u202eA\u200b"
    shutil.copytree(small_run, d)
    page = compare_runs([small_run, d]).html(title="runs")
    assert "\u202e" not in page and "\u200b" not in page and "\\u202e" in page


@pytest.mark.parametrize("what", ["lhotse", "emobox"])
def test_a_lhotse_or_emobox_file_that_is_a_fifo_is_named_as_one_and_never_waited_on(tmp_path, what):
    """A FIFO given as a lhotse or EmoBox manifest was reported 'not found' (it exists); and the readers opened the file
    by name, blocking, after an is_file look, so one swapped in between hung the command.  Now the open itself judges it."""
    import os

    fifo = tmp_path / ("cuts.jsonl" if what == "lhotse" else "iemocap_train_fold_1.jsonl")
    os.mkfifo(fifo)
    argv = (["datasets", "import-lhotse", "--cuts", fifo] if what == "lhotse"
            else ["datasets", "import-emobox", fifo, "--root", tmp_path])
    rc, out, err = run_cli(*argv, "--out", tmp_path / "m.csv")
    assert rc == 2 and "named pipe (FIFO)" in err and "not found" not in err, err


def test_a_one_sample_clip_says_how_long_it_is(tmp_path):
    """A 1-sample WAV was 'the file is 0 ms long', which reads as an empty file; it now says 1 sample."""
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "one.wav", np.array([0.1], dtype=np.float32), 16000)
    rc, out, err = run_cli("infer", tmp_path / "one.wav", "--model", "tiny", "--out", tmp_path / "out")
    assert rc == 1 and "1 sample(s) (0.06 ms) long" in out and "0 ms long" not in out, out


@pytest.mark.parametrize("ext", [".jsonl", ".csv"])
def test_a_manifests_meta_is_written_as_strict_json(tmp_path, ext):
    """import-votes gives an item with no votes agreement NaN; the manifest carried a bare NaN (not JSON: strict
    readers refuse the line) in its .jsonl lines and in the CSV's meta column."""
    from workbench.data.manifest import Item, read_manifest, write_manifest

    items = [Item(id="a", path="a.wav", meta={"agreement": float("nan"), "n_raters": 0.0, "spread": float("inf")})]
    p = write_manifest(items, tmp_path / f"m{ext}")
    text = p.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    back = read_manifest(p, validate_files=False).items[0].meta
    assert back["agreement"] is None and back["n_raters"] == 0.0


def test_embeddings_whose_header_declares_an_impossible_width_are_refused_before_they_are_read(small_run, tmp_path):
    """A 4 kB sparse embeddings.npy declaring 9 × 40 million float32 took `workbench embeddings` to 12 GB and past five
    minutes; the header is now judged first (rows = the results' rows, at most 16,384 dimensions).  20,000 wide here."""
    import numpy as np

    from workbench.runs.folder import RunFolder, RunFolderError

    d = tmp_path / "run"
    shutil.copytree(small_run, d)
    head = np.lib.format.header_data_from_array_1_0(np.zeros((1, 2), np.float32))
    head["shape"] = (9, 20_000)
    with open(d / "embeddings.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, head)
        f.truncate(f.tell() + 9 * 20_000 * 4)
    with pytest.raises(RunFolderError) as e:
        RunFolder(d).embeddings()
    assert "9 rows of 20000 dimensions" in str(e.value) and "16384" in str(e.value)
    assert RunFolder(small_run).embeddings().shape[0] == 9


def test_frame_embeddings_whose_header_claims_more_than_the_file_holds_are_refused(tmp_path):
    """RunFolder.frame_embeddings used np.load: a header declaring 10^12 × 32 floats in a 300-byte file ended in an
    unexpected MemoryError (or ValueError) instead of naming the file."""
    import numpy as np

    from workbench.demo import DEMO_DATA
    from workbench.runs.folder import FRAME_EMBEDDINGS, RunFolder, RunFolderError, frame_embedding_name

    out = tmp_path / "run"
    rc, _, err = run_cli("run", DEMO_DATA / "manifest.csv", "--model", "tiny", "--out", out, "--frame-embeddings")
    assert rc == 0, err
    rf = RunFolder(out)
    row = rf.results(status="ok").iloc[0]
    p = out / FRAME_EMBEDDINGS / frame_embedding_name(str(row["id"]), str(row["variant"]))
    assert rf.frame_embeddings(row["id"], row["variant"]).ndim == 2
    head = np.lib.format.header_data_from_array_1_0(np.zeros((1, 2), np.float32))
    head["shape"] = (10 ** 12, 32)
    with open(p, "wb") as f:
        np.lib.format.write_array_header_1_0(f, head)
        f.write(bytes(256))
    with pytest.raises(RunFolderError) as e:
        rf.frame_embeddings(row["id"], row["variant"])
    assert "declares an array of" in str(e.value) and p.name in str(e.value)
