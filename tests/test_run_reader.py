"""One way to select rows of a run, and one error for a variant the run does not have, in every reader."""

import numpy as np
import pytest

from test_probe import synthetic_row, write_run
from workbench.analysis.calibration import scored_items
from workbench.analysis.embeddings import load_run_embeddings
from workbench.analysis.fusion import embedded_rows
from workbench.analysis.listeners import evaluate_listeners
from workbench.runs.folder import VariantNotInRunError, pick_variant, select_rows


@pytest.fixture
def two_variant_run(tmp_path):
    rows, emb = [], []
    for v in ("tel", "raw"):
        for i in range(4):
            status = "failed" if i == 3 else "ok"
            rows.append(synthetic_row(f"i{i}", emotion="happy", pred="happy", variant=v, status=status, speaker=f"s{i % 2}"))
            emb.append(None if status == "failed" else np.ones(4) * i)
    return write_run(tmp_path / "run", rows, emb)


def test_results_select_by_variant_and_status(two_variant_run):
    rf = two_variant_run
    assert len(rf.results()) == 8
    assert len(rf.results(variant="raw")) == 4 and set(rf.results(variant="raw")["variant"]) == {"raw"}
    assert len(rf.results(variant="raw", status="ok")) == 3 and len(rf.results(status="failed")) == 2
    assert pick_variant(rf.results()) == "tel" and pick_variant(rf.results(), default="raw") == "raw"
    with pytest.raises(VariantNotInRunError, match=r"variant 'telephone' is not in the run; it has \['tel', 'raw'\]"):
        rf.results(variant="telephone")
    with pytest.raises(Exception, match="unknown row status 'okay'"):
        select_rows(rf.results(), status="okay")


@pytest.mark.parametrize("reader", [
    lambda rf: evaluate_listeners(rf.results(), variant="nope"),
    lambda rf: embedded_rows(rf, variant="nope"),
    lambda rf: load_run_embeddings(rf, variant="nope"),
    lambda rf: scored_items(rf.results(), variant="nope"),
])
def test_every_reader_gives_the_one_error(two_variant_run, reader):
    with pytest.raises(VariantNotInRunError, match="variant 'nope' is not in the run"):
        reader(two_variant_run)
