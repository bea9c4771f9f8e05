"""Diagnose one input: the engine's prediction at frame granularity, the facts and findings, and the
stability test (the label under small perturbations: onset shift, gain, resampler)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.audio.intake import Audio
from workbench.engine.core import score_sources
from workbench.engine.findings import DiagnosticsConfig, Finding, StabilityReport, findings_from, stability
from workbench.model.network import RANDOM_WEIGHTS_BANNER


# ---------------------------------------------------------------------------
# diagnose: one input, its findings and the stability test
# ---------------------------------------------------------------------------
@dataclass
class Diagnosis:
    audio: Audio
    prediction: Any
    facts: dict
    findings: list[Finding]
    stability: StabilityReport | None

    def render(self) -> str:
        p = self.prediction
        # the banner first: whatever follows comes from weights that mean nothing
        lines = [f"!! {RANDOM_WEIGHTS_BANNER}"] if getattr(p, "random_weights", False) else []
        lines += [self.audio.log.render(), ""]
        lines.append(f"prediction: {p.label} ({p.confidence:.3f}), margin {p.margin:.3f}, entropy {p.entropy:.2f} bits")
        ranked = sorted(p.scores_dict().items(), key=lambda kv: -kv[1])
        lines.append("scores: " + ", ".join(f"{k} {v:.3f}" for k, v in ranked))
        if self.stability is not None:
            s = self.stability
            flips = sum(1 for r in s.rows if r["flipped"])
            lines.append(f"stability: the label stays {p.label} under all {len(s.rows)} perturbations" if not flips else
                         f"stability: the label changes under {flips} of {len(s.rows)} perturbations ({s.flip_rate * 100:.0f}%)")
            for r in s.rows:
                mark = "FLIP" if r["flipped"] else "    "
                lines.append(f"  {mark} {r['perturbation']:<28} → {r['label']} ({r['confidence']:.3f})")
        lines.append("")
        if self.findings:
            lines.append(f"findings ({len(self.findings)}):")
            lines += ["  " + f.render().replace("\n", "\n  ") for f in self.findings]
        else:
            lines.append("findings: none")
        return "\n".join(lines)


def diagnose(source: Any, model: Any, *, config: DiagnosticsConfig = DiagnosticsConfig(), audio_config: Any = None,
             run_stability: bool = True) -> Diagnosis:
    """One input through the engine (frame granularity), its findings, and the stability test.

    Raises the input's :class:`WorkbenchError` when it cannot be scored.

    Parameters
    ----------
    source : path, array or Audio
        The input.
    model : loaded model
        What :meth:`ModelRef.load <workbench.model.ref.ModelRef.load>` returns.
    config : DiagnosticsConfig
        The findings' thresholds.
    audio_config : AudioConfig, optional
        Decoding settings.
    run_stability : bool
        Also score small perturbations (onset shift, gain, resampler) and say whether the label holds.

    Returns
    -------
    Diagnosis
        The audio with its processing log, the prediction, the facts, the findings and the stability report;
        ``render()`` gives the text the CLI prints.

    Examples
    --------
    >>> net = wb.ModelRef("tiny").load()
    >>> d = wb.diagnose(wb.DEMO_DATA / "happy_en_tel8k.wav", net)
    >>> d.audio.sr, d.prediction.label in net.info.labels, len(d.stability.rows) > 0
    (16000, True, True)
    >>> print(d.render().splitlines()[0])
    !! RANDOM WEIGHTS...
    """
    s = score_sources(model, [source], diagnostics=config, audio_config=audio_config, granularity="frame", keep_audio=True,
                      workers=0)[0]
    s.prediction_or_raise()
    facts = dict(s.facts)
    stab = stability(model, s.audio, base=s.prediction) if run_stability else None
    if stab is not None:
        facts.update(stab.facts())
    return Diagnosis(s.audio, s.prediction, facts, findings_from(facts, config), stab)
