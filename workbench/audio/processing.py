"""The processing log: what every step did to the audio, as data.

Each decode, mixdown, resampling or preprocessing step appends one
:class:`StepRecord`.  The log renders as the seeds' tool printed it
(``INFO: File size: 2.4 MB | Duration: 8.32s | Sample rate: 44100 Hz``), and
it is stored with every result as a list of dicts.

A step that changes the length of the audio beyond what its sample-rate change
explains has that change measured here: samples cut at the start and at the
end, in seconds, and a warning line that says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from workbench.serialize import plain_dict


@dataclass
class StepRecord:
    """What one step did.  Durations in seconds, cuts in seconds at the input rate."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    sr_in: int | None = None
    sr_out: int | None = None
    duration_in: float | None = None
    duration_out: float | None = None
    cut_start: float = 0.0
    cut_end: float = 0.0
    added_start: float = 0.0
    added_end: float = 0.0
    elapsed_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)
    level: str = "INFO"
    message: str = ""
    #: loudest 25 ms of what was cut at the start, in dB above the input's noise floor
    #: (None: nothing cut, or not measured); see workbench.audio.measures.removed_onset_db_above_floor
    cut_start_db_above_floor: float | None = None

    @property
    def length_change(self) -> float:
        """Seconds removed (positive) or added (negative) by the step."""
        return (self.cut_start + self.cut_end) - (self.added_start + self.added_end)

    def to_dict(self) -> dict:
        return plain_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "StepRecord":
        return cls(**data)


def _fmt_size(n_bytes: int) -> str:
    if n_bytes >= 1_000_000:
        return f"{n_bytes / 1_000_000:.1f} MB"
    if n_bytes >= 1_000:
        return f"{n_bytes / 1_000:.1f} KB"
    return f"{n_bytes} B"


class ProcessingLog:
    """An ordered list of :class:`StepRecord` plus free log lines.

    ``lines()`` renders it in the seeds' format; ``to_list()`` stores it.  Every :class:`~workbench.audio.clip.Audio`
    carries one: what was decoded, mixed down, resampled, trimmed, and what each step cut or added.

    Parameters
    ----------
    steps : list of StepRecord, optional
        The records to start with (``None``: an empty log).

    Examples
    --------
    >>> y = np.zeros(8000, dtype=np.float32)
    >>> log = wb.load_audio((y, 8000), id="silence").log
    >>> [step.name for step in log.steps]
    ['decode', 'resample']
    >>> log.total_cut()  # seconds removed at the start and at the end
    (0.0, 0.0)
    >>> record = log.note("model loaded")
    >>> len(wb.ProcessingLog(log.steps).steps)
    3
    """

    def __init__(self, steps: list[StepRecord] | None = None):
        self.steps: list[StepRecord] = list(steps or [])
        self._started = time.perf_counter()

    # -- building -----------------------------------------------------------
    def add(self, record: StepRecord) -> StepRecord:
        self.steps.append(record)
        return record

    def note(self, message: str, *, level: str = "INFO", name: str = "note", **params) -> StepRecord:
        """Append a line that is not an audio step (model loaded, inference done)."""
        return self.add(StepRecord(name=name, params=params, level=level, message=message))

    def copy(self) -> "ProcessingLog":
        return ProcessingLog([StepRecord.from_dict(s.to_dict()) for s in self.steps])

    # -- reading ------------------------------------------------------------
    @property
    def warnings(self) -> list[str]:
        return [w for s in self.steps for w in s.warnings]

    @property
    def audio_steps(self) -> list[StepRecord]:
        return [s for s in self.steps if s.sr_out is not None]

    def total_cut(self) -> tuple[float, float]:
        """Seconds removed at the start and at the end over all steps."""
        return (
            sum(s.cut_start for s in self.steps),
            sum(s.cut_end for s in self.steps),
        )

    def to_list(self) -> list[dict]:
        return [s.to_dict() for s in self.steps]

    @classmethod
    def from_list(cls, items: list[dict]) -> "ProcessingLog":
        return cls([StepRecord.from_dict(d) for d in items])

    def lines(self) -> list[str]:
        """Human-readable lines, one or more per step, seeds' style."""
        out: list[str] = []
        for s in self.steps:
            if s.message:
                out.append(f"{s.level}: {s.message}")
            elif s.sr_out is not None:
                out.append(f"INFO: {_describe_step(s)}")
            for w in s.warnings:
                out.append(f"WARNING: {w}")
        return out

    def render(self) -> str:
        return "\n".join(self.lines())

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self):
        return iter(self.steps)


def _describe_step(s: StepRecord) -> str:
    if s.name == "decode":
        p = s.params
        head = []
        if p.get("file_size") is not None:
            head.append(f"File size: {_fmt_size(p['file_size'])}")
        head.append(f"Duration: {s.duration_out:.2f}s")
        head.append(f"Sample rate: {s.sr_out} Hz")
        head.append(f"Channels: {p.get('channels')}")
        if p.get("codec"):
            head.append(f"Codec: {p['codec']}")
        head.append(f"Decoder: {p.get('decoder')}")
        return " | ".join(head) + f" ({s.elapsed_ms:.0f} ms)"
    params = ", ".join(f"{k}={v}" for k, v in s.params.items())
    change = f"{s.duration_in:.3f}s → {s.duration_out:.3f}s" if s.duration_in is not None else ""
    rate = f", {s.sr_in} → {s.sr_out} Hz" if s.sr_in != s.sr_out else ""
    return f"{s.name}({params}): {change}{rate} ({s.elapsed_ms:.1f} ms)"


def measure_length_change(
    name: str,
    *,
    n_in: int,
    sr_in: int,
    n_out: int,
    sr_out: int,
    cut_start: int = 0,
    added_start: int = 0,
    tolerance_samples: int = 1,
) -> tuple[float, float, float, float, list[str]]:
    """Account for a length change between input and output of a step.

    ``cut_start``/``added_start`` are the samples (at the input rate) the step
    knows it removed or added at the start.  Whatever remains unexplained,
    beyond ``tolerance_samples`` of resampling rounding at the output rate,
    is put at the end.

    Returns ``(cut_start_s, cut_end_s, added_start_s, added_end_s, warnings)``.
    """
    expected_out = (n_in - cut_start + added_start) * sr_out / sr_in
    missing_out = expected_out - n_out  # >0: samples lost at the end
    cut_end_s = added_end_s = 0.0
    warnings: list[str] = []
    if abs(missing_out) > tolerance_samples:
        if missing_out > 0:
            cut_end_s = missing_out / sr_out
        else:
            added_end_s = -missing_out / sr_out
    cut_start_s = cut_start / sr_in
    added_start_s = added_start / sr_in
    dur_in = n_in / sr_in
    dur_out = n_out / sr_out
    removed = cut_start_s + cut_end_s
    if removed > 0:
        where = []
        if cut_start_s > 0:
            where.append(f"{cut_start_s * 1000:.0f} ms cut at start")
        if cut_end_s > 0:
            where.append(f"{cut_end_s * 1000:.0f} ms cut at end")
        warnings.append(
            f"Audio duration after {name}: {dur_out:.2f}s ({removed:.2f}s trimmed: {', '.join(where)}; "
            f"{dur_in:.3f}s → {dur_out:.3f}s)"
        )
    added = added_start_s + added_end_s
    if added > 0:
        warnings.append(f"Audio duration after {name}: {dur_out:.2f}s ({added:.2f}s added)")
    return cut_start_s, cut_end_s, added_start_s, added_end_s, warnings
