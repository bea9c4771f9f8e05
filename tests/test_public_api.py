"""``import workbench as wb`` is the researcher's API: every public name resolves, and nothing internal leaks."""

import subprocess
import sys

import workbench as wb


def test_every_public_name_resolves_to_a_documented_object():
    for name in wb.__all__:
        obj = getattr(wb, name)
        assert obj is not None, name
        if callable(obj) and not isinstance(obj, type) and name != "__version__":
            assert (obj.__doc__ or "").strip(), f"wb.{name} has no docstring"


def test_the_api_covers_the_whole_workflow_and_hides_internals():
    for name in ("load_model", "ModelRef", "run", "evaluate", "compare_runs", "calibrate_run", "run_listeners",
                 "explain_clip", "run_features", "segment_file", "LowConfidenceBrowser", "run_report"):
        assert name in wb.__all__, name
    for internal in ("BatchPolicy", "RESULT_COLUMNS", "resolve_model", "ModelSpec", "CheckpointRef"):
        assert internal not in wb.__all__, internal


def test_an_unknown_name_is_an_attribute_error_and_import_stays_light():
    try:
        wb.no_such_name
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown public name resolved")
    code = "import sys, workbench as wb; wb.run; wb.ModelRef; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
