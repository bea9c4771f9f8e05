"""``finetune``: the steps of a fine-tuning in order: the run, its data and speakers, the training, the card, the folder."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from workbench.analysis.finetune.checkpoint import CARD_FORMAT, parent_folder, parent_head, write_checkpoint
from workbench.analysis.finetune.data import (LABEL_SETS, TuneData, check_manifest_classes, holdout_groups, speakers_of, split_speakers,
                                              tune_data)
from workbench.analysis.finetune.encoder import (EncoderTraining, check_forward, check_unfreeze, configured_blocks, parent_network,
                                                 scored_clips, train_encoder)
from workbench.analysis.finetune.evaluate import class_table_of, evaluate_finetune, scores, skipped_folds_note, speakers_of
from workbench.analysis.finetune.head import HeadTraining, train_head
from workbench.analysis.finetune.partition import (data_validation_mode, partition_lines, split_sides, validation_mode,
                                                   with_split_roles)
from workbench.analysis.groups import class_lines, missing_class_note
from workbench.analysis.probe import METRICS
from workbench.data.cards import run_training_overlap
from workbench.errors import ConfigError
from workbench.labels import RANDOM_WEIGHTS_BANNER
from workbench.logs import WholeLines, progress_bar_class, progress_options
from workbench.model.checkpoints import load_weights, read_training_card, resolve_model, weights_file
from workbench.model.network import auto_device
from workbench.runs.driver import run as score
from workbench.runs.folder import RunFolder, as_run_folder
from workbench.data.manifest import read_manifest
from workbench.paths import portable_path
from workbench.schema import text_values

logger = logging.getLogger(__name__)


@dataclass
class FinetuneResult:
    out: Path
    card: dict
    run_dir: Path
    #: the trained model in memory: a :class:`~workbench.analysis.finetune.head.HeadFit` or an
    #: :class:`~workbench.analysis.finetune.encoder.EncoderFit` (what the folder holds, before it was written)
    fit: Any = field(default=None, repr=False, compare=False)

    def render(self) -> str:
        c = self.card
        test = c.get("test") or {}
        # what makes every figure below meaningless is said before any of them (as `run` and `metrics` do)
        random = bool(c["parent"].get("random_weights"))  # the card's warning repeats the banner then: said once here
        lines = ([f"!! {RANDOM_WEIGHTS_BANNER}"] if random else []) + (
            [f"!! WARNING: {c['warning']}"] if c.get("warning") and not (random and RANDOM_WEIGHTS_BANNER in c["warning"]) else []) + [
            f"!! the parent: {w} (its parent_mapped figures below are on them)" for w in c["parent"].get("overlap") or ()]
        lines += [f"checkpoint {self.out}: {len(c['labels']['classes'])} classes ({', '.join(c['labels']['classes'])})",
                  f"  parent {c['parent']['id']} (sha256 {str(c['parent']['checksum_sha256'])[:12]}…), from run {self.run_dir}",
                  f"  speakers: train {len(c['speakers']['train'])}, validation {len(c['speakers']['validation'])}, "
                  f"test {len(c['speakers']['test'])}; best epoch {c['training']['best_epoch']} of {c['training']['epochs_run']} "
                  f"in {c['training']['seconds']:.2f} s"]
        left_out = (c.get("data") or {}).get("excluded") or {}
        if left_out:  # every figure below counts only the items trained and tested on: say which were not (--labels nine: boredom)
            lines.append(f"  items: {c['data'].get('n_items')}; left out: " + "; ".join(f"{n} ({why})" for why, n in left_out.items()))
        lines += _grouping_lines(c)
        lines += partition_lines(c)
        t = c["training"]
        if t.get("unfreeze"):
            p = t["parameters"]
            lines.append(f"  adapted: top {t['unfreeze']} of {t['blocks']['total']} blocks ({t['adapt']}), trainable {p['trainable']:,} of "
                         f"{p['total']:,} parameters, {t['seconds_per_epoch']} s/epoch on {t['device']}; the head alone took "
                         f"{t['head_stage']['seconds']:.2f} s; forward = run's embeddings within "
                         f"{t['forward_check']['max_abs_diff_over_norm']:.1e} of their norm")
        if test.get("by") == "split":
            for name, d in test["sets"].items():
                lines += [f"  test set {name} (the split column, on its own): " + _figures(d), *_flag_lines(d, "    ")]
            if not test["sets"]:
                lines.append("  the split column has no test set: no held-out figure")
        elif test.get("n"):
            lines.append(f"  held-out test {_held_out_by(c)}s: " + _figures(test))
            lines += _flag_lines(test, "    ")
        else:
            lines.append("  no test speakers held out: no held-out figure (pass a test share above 0)")
        ev = c.get("evaluation")
        if ev:
            lines.append(f"  cross-validation ({ev['scheme']}, {ev['n_folds']} folds, training procedure "
                         f"{ev.get('procedure', 'head')} in each, pooled test items):")
            lines += [f"    !! {note}"] if (note := skipped_folds_note(ev)) else []
            for name in ("finetuned", "probe", "parent_mapped"):
                if ev.get(name) and ev[name].get("not_comparable"):
                    lines.append(f"    {name:<14} n/a: {ev[name]['not_comparable']}")
                elif ev.get(name):
                    lines.append(f"    {name:<14} " + _figures(ev[name]) + (f"  [{ev[name]['note']}]" if ev[name].get("note") else ""))
                    lines += _flag_lines(ev[name], "      ")
            lines += [f"    finetuned on test set {name} alone: " + _figures(d) for name, d in ev.get("per_test_set", {}).items()]
            lines += _class_lines(ev)
            if ev.get("warning"):
                lines.append(f"    !! {ev['warning']}")
        return "\n".join(lines)


def _class_lines(ev: dict) -> list[str]:
    """The cross-validation's per-class tables (the fine-tuned head's, the parent's mapped), as ``metrics`` prints its
    own: precision and recall with exact intervals and fractions, F1 with its bootstrap interval, then what they fail."""
    lines = []
    for who in ("finetuned", "parent_mapped"):
        per = ev.get("per_class") or {}
        if not per or f"f1_{who}" not in next(iter(per.values())) or (ev.get(who) or {}).get("not_comparable"):
            continue  # a card of an older version (recall only), or a parent with none of the classes (said above)
        # the heads name what the intervals resample, as metrics' do (the same speakers as the figures above)
        table = class_lines(class_table_of(per, who), (ev.get(who) or {}).get("n", 0), (ev.get(who) or {}).get("ci_unit"))
        lines.append(f"    per class, {who} (pooled test items; n = items of the class, F1's interval from macro-F1's resamples):")
        lines += ["    " + line for line in table]
        shown = "\n".join(table)
        lines += [f"      !! {flag}" for flag in (ev.get("per_class_flags") or {}).get(who, ()) if flag not in shown]
    return lines


def _held_out_by(card: dict) -> str:
    return (card.get("grouping") or {}).get("by", "speaker")


def _grouping_lines(card: dict) -> list[str]:
    """Which sessions are held out and why (nothing to add when speakers are), and a validation side that lacks classes."""
    g = card.get("grouping") or {}
    lines = []
    if g.get("by") == "session":
        spk = card["speakers"]
        sides = "; ".join(f"{side} {', '.join(g['groups'][side])} ({', '.join(spk[side])})" for side in ("test", "validation", "train")
                          if g["groups"].get(side))
        lines += [f"  held out by session: {sides}", f"    why: {g['why']}"]
    val = card.get("validation") or {}
    lines += [f"  !! validation side (early stopping): {f}" for f in val.get("flags") or ()]
    return lines


def _figures(d: dict) -> str:
    """WA, UAR, F1 with their intervals, n and the UAR's chance level; the failing checks go on lines of their own."""
    parts = []
    for m in METRICS:
        if m in d and d[m] == d[m]:
            lo, hi = d.get(f"{m}_ci", (float("nan"), float("nan")))
            parts.append(f"{m.upper() if m != 'macro_f1' else 'F1'} {d[m]:.3f} [{lo:.3f}, {hi:.3f}]")
    chance = d.get("chance_uar")
    present = d.get("classes_present")
    words = (f"; UAR chance {chance:.3f} over {present} classes" if chance is not None else
             "; no chance level: one class" if present == 1 else "")
    unit = (d.get("ci_unit") or {}).get("short")  # what the intervals resample (a card of an older version: items)
    return ", ".join(parts) + f" (n={d.get('n', 0)}{words}{f'; intervals resample {unit}' if unit else ''})"


def _flag_lines(d: dict, indent: str) -> list[str]:
    """The failing checks of a figure (``scores``' ``flags``), one ``!!`` line each."""
    return [f"{indent}!! {flag}" for flag in d.get("flags") or ()]


#: no bar, no rate and no time left: early stopping ends the training at an epoch no rate can foresee (a bar over the
#: most epochs estimated 25 minutes from the first epoch for a training that took 70 s); the bound is said instead,
#: and how near the stop is (epochs since the best, out of the patience)
BAR_FORMAT = "{desc}: {n_fmt} epochs [{elapsed}{postfix}]"


def bound_words(epochs: int, patience: int, early: bool) -> str:
    """What bounds a training's length, in words: the most epochs, and the early stop when there is a validation side."""
    return (f"up to {epochs} epochs, stops early after {patience} without a better validation UAR" if early
            else f"{epochs} epochs (no validation side: no early stopping)")


def _progress_bar(enabled: bool, desc: str, bound: str, patience: int, file=None):
    """A counter of epochs (no ETA: see :data:`BAR_FORMAT`) and its hook; the postfix shows the validation UAR, the best
    epoch and the epochs since it out of ``patience``."""
    if not enabled:
        return None, None
    tqdm = progress_bar_class()
    options = {"file": file} if file else progress_options()
    redraw = not isinstance(options["file"], WholeLines)  # into a pipe: a line per mininterval, not one per epoch
    # on a terminal the bar goes when training ends; into a pipe its last line stays (the epochs run, the stop's figures)
    bar = tqdm(desc=f"{desc} ({bound})", unit="epoch", dynamic_ncols=True, leave=not redraw, bar_format=BAR_FORMAT, **options)

    def hook(epoch: int, figures: dict) -> None:
        bar.update(1)
        if figures.get("val_uar") is not None:
            best = figures.get("best_epoch")
            since = {} if best is None else {"best": f"epoch {best}", "since": f"{epoch - best}/{patience}"}
            bar.set_postfix(val_uar=f"{figures['val_uar']:.3f}", val_loss=f"{figures['val_loss']:.3f}", **since, refresh=redraw)

    return bar, hook



def finetune(source: str | os.PathLike | RunFolder, out: str | os.PathLike, *, model: Any = None, labels: str = "corpus",
             config: HeadTraining = HeadTraining(), variant: str | None = None, run_dir: str | os.PathLike | None = None,
             unfreeze: int = 0, adapt: str | None = None, encoder: EncoderTraining | None = None, device: str = "auto",
             evaluate: bool = True, folds: str = "speaker", k: int = 5, n_boot: int = 1000, validation: str = "auto",
             speaker_options: Sequence[str] = (), progress: bool = False, load_progress: Callable[[str], None] | None = None) -> FinetuneResult:
    """Train a head for ``labels`` on a run's embeddings (a MANIFEST is scored first) and write the checkpoint ``out``.

    Parameters
    ----------
    source : run folder or manifest path
        A run folder (``results.parquet``, ``embeddings.npy``) or a manifest, scored first with ``model`` into ``run_dir``
        (default ``<out>-run``) through :func:`workbench.runs.driver.run`.
    out : path
        The new checkpoint folder; it must not exist yet (or be empty).
    labels : {"corpus", "nine"}
    config : HeadTraining
        The head's training, and the speaker split and seed every mode uses.
    unfreeze : int
        Top transformer blocks to adapt as well (0: head only), in ``0..number of blocks``; trains on the items'
        audio as the run scored it (:mod:`workbench.analysis.finetune.encoder`).
    adapt : {"full", "lora"}, optional
        With ``unfreeze``: every weight of those blocks, or LoRA adapters (merged before saving); default full.
    encoder : EncoderTraining, optional
        The blocks' hyper-parameters (its ``unfreeze``/``adapt`` are replaced by the two above).
    device : str
        Where ``--unfreeze`` trains: auto (CUDA when present), cpu, cuda …
    evaluate : bool
        Also cross-validate the training procedure (:func:`evaluate_finetune`) under ``folds``/``k``.
    validation : {"auto", "split", "speakers"}
        Where the saved head early-stops and is tested (:mod:`workbench.analysis.finetune.partition`): the ``split``
        column's train / dev / test sets (``auto`` when it has a train and a dev set), or shares of the speakers.
    speaker_options : sequence of str
        The share options the caller set (``--validation-speakers``, ``--test-speakers``): refused with the split.
    """
    enc = _encoder_request(unfreeze, adapt, encoder)
    if labels not in LABEL_SETS:
        raise ConfigError(f"unknown label set {labels!r}; expected one of {', '.join(LABEL_SETS)}.", source="--labels",
                          fix="pass --labels corpus or --labels nine.")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError("exists and is not an empty folder; a checkpoint is never written over another.", source=str(out),
                          fix="choose a new --out folder.")
    run = _source_run(source, out, model=model, run_dir=run_dir, unfreeze=unfreeze, progress=progress, load_progress=load_progress,
                      labels=labels, validation=(validation, tuple(speaker_options)))
    parent, parent_ref = parent_folder(run)
    if enc is not None:
        check_unfreeze(enc.unfreeze, configured_blocks(parent), str(parent))
    data, clips, (sides, mask, grouping, tests, partition) = _data_and_sides(run, labels, variant, enc is not None, config, folds,
                                                                             validation, speaker_options)
    init = parent_head(parent, data.classes) if labels == "nine" else None
    early = bool(mask["validation"].any())
    fit = _with_bar(progress, "finetune head", bound_words(config.epochs, config.patience, early), config.patience,
                    lambda hook: train_head(data.x[mask["train"]], data.y[mask["train"]], data.x[mask["validation"]],
                                            data.y[mask["validation"]], data.classes, config, init=init, progress=hook))
    weight, bias, state = fit.weight, fit.bias, None
    training: dict[str, Any] = {"mode": "head", "unfreeze": 0, **_head_record(config, fit, init, grouping["by"], partition)}
    curves = fit.curves
    test_pred = fit.predict(data.x[mask["test"]])
    efit = None
    if enc is not None:
        dev = auto_device() if device == "auto" else device
        efit, check = _train_blocks(run, parent, data, clips, mask, fit, enc, config, dev, progress)
        state = {**load_weights(weights_file(parent))[0], **efit.trained_state()}
        weight, bias = state["proj.weight"].double().numpy(), state["proj.bias"].double().numpy()
        training = _encoder_record(enc, efit, training, check, dev)
        curves = efit.curves
        test_pred = efit.predict([clips[i] for i in np.flatnonzero(mask["test"])])
    card = _card(run, parent, parent_ref, data, sides, mask, training, curves, _test_figures(data, mask, tests, test_pred, n_boot, config.seed),
                 grouping, out)
    card["partition"] = partition
    if evaluate:
        procedure = None if enc is None else _encoder_procedure(data, clips, parent, enc, config, device)
        card["evaluation"] = evaluate_finetune(data, scheme=folds, k=k, config=config, n_boot=n_boot, parent_labels=card["parent"]["labels"],
                                               procedure=procedure, procedure_name=training["mode"],
                                               dev=np.flatnonzero(mask["validation"]) if tests is not None else None, dev_name=_dev_name(partition))
    write_checkpoint(out, parent, data.classes, weight, bias, card, state=state)
    card = read_training_card(out)  # its paths absolute again, on this machine
    logger.info("fine-tuned %s (%d classes) written to %s", training["mode"], len(data.classes), out)
    return FinetuneResult(out, card, run.path, efit if enc is not None else fit)


def _dev_name(partition: dict) -> str:
    """What the split partition early-stops on, in the cross-validation's words."""
    return "a share of the split column's train speakers" if "validation_speakers" in partition else "the split column's dev set"


def _data_and_sides(run: RunFolder, labels: str, variant: str | None, audio: bool, config: HeadTraining, folds: str, validation: str,
                    speaker_options: Sequence[str]) -> tuple[TuneData, list | None, tuple]:
    """The rows (with their clips for ``--unfreeze``) and the saved head's sides: the split column's train / dev / test sets
    (its items of no role left out), or held-out speakers (:mod:`~workbench.analysis.finetune.partition`)."""
    data = tune_data(run, labels=labels, variant=variant)
    mode, why = data_validation_mode(data, validation, speaker_options, source=str(run.path))
    if mode == "split":
        data = with_split_roles(data)
    clips = None
    if audio:
        data, clips = _with_audio(run, data)
    if mode == "split":
        return data, clips, split_sides(data, why, validation_speakers=config.validation_speakers, seed=config.seed)
    return data, clips, (*_sides(data, config, folds), None, {"validation": "speakers", "why": why})


def _test_figures(data: TuneData, mask: dict, tests: dict | None, pred: np.ndarray, n_boot: int, seed: int) -> dict:
    """The card's test figure: the held-out speakers', or each test set of the split column on its own (never pooled)."""
    if tests is None:
        return scores(data.y[mask["test"]], pred, data.classes, n_boot=n_boot, seed=seed, speakers=speakers_of(data.rows[mask["test"]]))
    within = {name: m[mask["test"]] for name, m in tests.items()}
    return {"by": "split", "n": int(mask["test"].sum()), "sets": {name: scores(data.y[m], pred[w], data.classes, n_boot=n_boot, seed=seed,
                                                                               speakers=speakers_of(data.rows[m]))
                                                                  for (name, m), w in zip(tests.items(), within.values())}}


def _encoder_request(unfreeze: Any, adapt: str | None, encoder: EncoderTraining | None) -> EncoderTraining | None:
    """The blocks' training asked for, or None (head only); ``--adapt`` without ``--unfreeze`` is refused, not ignored."""
    check_unfreeze(unfreeze, None, "--unfreeze")
    if not unfreeze:
        if adapt is not None:
            raise ConfigError(f"--adapt {adapt} adapts encoder blocks, and --unfreeze is 0 (head only).", source="--adapt",
                              fix="pass --unfreeze K with --adapt, or leave --adapt out.")
        return None
    return replace(encoder or EncoderTraining(), unfreeze=int(unfreeze), adapt=adapt or (encoder.adapt if encoder else "full"))


def _source_run(source, out: Path, *, model, run_dir, unfreeze: int, progress: bool, load_progress, labels: str = "corpus",
                validation: tuple = ("auto", ())) -> RunFolder:
    """The run to fine-tune on: ``source`` itself, or a manifest scored first (its classes, ``--validation`` and K
    checked before that)."""
    src = source if isinstance(source, RunFolder) else Path(source)
    if isinstance(src, Path) and src.is_file():
        manifest = read_manifest(src, validate_files=False)
        check_manifest_classes(manifest, labels, source=str(src))  # before anything is scored
        validation_mode(validation[0], [it.split or "" for it in manifest], [it.meta or {} for it in manifest],
                        speaker_options=validation[1], source=str(src))
        if unfreeze:
            name = getattr(model, "model", model)
            spec = resolve_model(None if name is None else str(name))
            if spec.kind != "hub":  # a local folder says its depth before anything is scored
                check_unfreeze(unfreeze, configured_blocks(spec.model), str(spec.model))
        run_path = Path(run_dir) if run_dir is not None else out.with_name(out.name + "-run")
        score(src, out_dir=run_path, model=model, progress=progress, load_progress=load_progress)
        return RunFolder(run_path)
    if model is not None:
        raise ConfigError("--model applies to a manifest; a run folder was scored by its own model.", source="--model",
                          fix="leave --model out, or pass the manifest to score it with another model.")
    return as_run_folder(src)


def _with_audio(run: RunFolder, data: TuneData) -> tuple[TuneData, list[np.ndarray]]:
    """The rows whose audio can be read again as the run scored it, and those clips; the others counted by reason."""
    clips, failed = scored_clips(run, data.rows)
    keep = np.array([c is not None for c in clips], dtype=bool)
    if not keep.any():
        first = next(iter(failed.items()))
        raise ConfigError(f"none of the run's {len(clips)} items could be read again ({first[0]}: {first[1]}).", source=str(run.path),
                          fix="restore the audio files the run scored (--unfreeze trains on the audio, not the cached embeddings).")
    excluded = dict(data.excluded) | ({"audio unreadable": sorted(failed)} if failed else {})
    kept = TuneData(data.rows[keep].reset_index(drop=True), data.x[keep], data.y[keep], data.classes, data.labels, data.variant,
                    data.corpora, excluded)
    return kept, [c for c in clips if c is not None]


def _sides(data: TuneData, config: HeadTraining, scheme: str = "speaker") -> tuple[dict[str, list[str]], dict[str, np.ndarray], dict]:
    """Speakers split into train / validation / test, each row's side, and the grouping (for the card).

    Whole sessions are split instead where the speakers of a session share its dialogs, or with ``scheme="session"``
    (:func:`~workbench.analysis.finetune.data.holdout_groups`); the speakers of each side are then those of its sessions.
    Rows without a speaker (session) are counted out.
    """
    holdout = holdout_groups(data.rows, scheme)
    groups = holdout.groups
    split = split_speakers(groups, validation=config.validation_speakers, test=config.test_speakers, seed=config.seed,
                           what=holdout.by)
    side_of = {g: side for side, names in split.items() for g in names}
    ungrouped = data.rows.loc[groups == "", "id"].astype(str).tolist()
    if ungrouped:
        data.excluded[f"no {holdout.by}"] = ungrouped
    mask = {side: np.array([side_of.get(g) == side for g in groups], dtype=bool) for side in ("train", "validation", "test")}
    if len(set(data.y[mask["train"]].tolist())) < 2:
        raise ConfigError(f"the training {holdout.by}s have fewer than two classes.", source="finetune",
                          fix="lower --test-speakers / --validation-speakers, or pass another --seed.")
    grouping = holdout.to_dict()
    if holdout.by == "speaker":
        return split, mask, grouping
    speakers = speakers_of(data.rows)
    sides = {side: sorted(set(speakers[m].tolist()) - {""}) for side, m in mask.items()}
    return sides, mask, {**grouping, "groups": {side: split[side] for side in ("train", "validation", "test")}}


def _with_bar(enabled: bool, desc: str, bound: str, patience: int, train: Callable[[Any], Any]) -> Any:
    bar, hook = _progress_bar(enabled, desc, bound, patience)
    try:
        return train(hook)
    finally:
        if bar is not None:
            bar.close()


def _train_blocks(run: RunFolder, parent: Path, data: TuneData, clips: list, mask: dict, fit, enc: EncoderTraining,
                  config: HeadTraining, device: str, progress: bool):
    """The blocks and the head on the audio, from the head ``fit``; the forward checked against the run's embeddings first."""
    net = parent_network(parent)
    first = np.arange(min(8, len(clips)))
    check = check_forward(net, [clips[i] for i in first], data.x[first], device="cpu",
                          low_precision=str(run.model_ref.get("dtype") or "float32") != "float32")
    idx = {side: np.flatnonzero(m) for side, m in mask.items()}
    bound = bound_words(enc.epochs, enc.patience, bool(len(idx["validation"]))) + " (epoch 0 is the start)"
    efit = _with_bar(progress, f"finetune top {enc.unfreeze} ({enc.adapt})", bound, enc.patience,
                     lambda hook: train_encoder(net, ([clips[i] for i in idx["train"]], data.y[idx["train"]]),
                                                ([clips[i] for i in idx["validation"]], data.y[idx["validation"]]), data.classes,
                                                (fit.weight, fit.bias), enc, seed=config.seed, device=device, progress=hook))
    return efit, check


def _encoder_procedure(data: TuneData, clips: list, parent: Path, enc: EncoderTraining, config: HeadTraining, device: str):
    """``--unfreeze``'s whole procedure (head on the embeddings, then blocks on the audio), as the cross-validation repeats it."""
    dev = auto_device() if device == "auto" else device

    def fit_predict(tr: np.ndarray, va: np.ndarray, te: np.ndarray) -> np.ndarray:
        head = train_head(data.x[tr], data.y[tr], data.x[va], data.y[va], data.classes, config)
        efit = train_encoder(parent_network(parent), ([clips[i] for i in tr], data.y[tr]), ([clips[i] for i in va], data.y[va]),
                             data.classes, (head.weight, head.bias), enc, seed=config.seed, device=dev)
        return efit.predict([clips[i] for i in te])

    return fit_predict


def _head_record(config: HeadTraining, fit, init, by: str = "speaker", partition: dict | None = None) -> dict:
    hyper = config.to_dict()
    on = f"held-out {by}s"
    if (partition or {}).get("validation") == "split":  # the test share was not used, nor the validation share with a dev set
        held_out = "validation_speakers" in partition
        hyper = {k: v for k, v in hyper.items() if k != "test_speakers" and (held_out or k != "validation_speakers")}
        on = f"{_dev_name(partition)}: " + ", ".join(partition["sets"]["validation"])
    return {**hyper, "validation": (partition or {}).get("validation", "speakers"), "optimizer": "torch.optim.AdamW",
            "loss": "class-balanced cross-entropy", "early_stopping": f"validation UAR, then loss ({on})",
            "init": "parent head" if init is not None else "zeros",
            "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run, "seconds": round(fit.seconds, 3)}


def _encoder_record(enc: EncoderTraining, efit, head: dict, check: dict, device: str) -> dict:
    """The card's training section of ``--unfreeze``: K, the mode, the blocks, the parameter counts, the times."""
    per_epoch = efit.curves["epoch_seconds"][1:]
    return {"mode": f"encoder-{enc.adapt}", "unfreeze": enc.unfreeze, "adapt": enc.adapt, **enc.to_dict(),
            "blocks": {"total": efit.n_blocks, "adapted": efit.blocks}, "parameters": efit.parameters,
            "optimizer": "torch.optim.AdamW (blocks at lr, head at head_lr), gradients clipped at norm 1",
            "loss": "class-balanced cross-entropy", "early_stopping": f"{head['early_stopping']}; epoch 0 is the start",
            "start": "the head trained on the run's cached embeddings (head_stage)", "dropout": "off (eval mode)", "device": device,
            "seed": head["seed"], "best_epoch": efit.best_epoch, "epochs_run": efit.epochs_run, "seconds": round(efit.seconds, 3),
            "seconds_per_epoch": round(float(np.median(per_epoch)), 3) if per_epoch else None,
            "forward_check": check, "head_stage": head}


def _card(run: RunFolder, parent: Path, parent_ref: dict, data: TuneData, sides: dict, mask: dict, training: dict, curves: dict,
          test: dict, grouping: dict, out: Path) -> dict:
    """The training card.  Its paths (the parent, the run, the manifest) are written as :func:`portable_path` writes a
    run's: relative to the head's folder ``out`` when both lie in one project, else under ``~``: a published head named
    its author's home and folders that point nowhere on another machine (:func:`read_training_card` reads them back)."""
    cfg = run.config
    manifest = cfg.get("manifest")
    counts = {side: {c: int(np.sum(data.y[m] == c)) for c in data.classes} for side, m in mask.items()}
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parent": {"id": portable_path(pid, out) if isinstance(pid := parent_ref.get("id"), str) and os.path.isabs(pid) else pid,
                   "path": portable_path(parent, out), "checksum_sha256": parent_ref.get("checksum"),
                   "labels": list(parent_ref.get("labels") or [])},
        "data": {"run_dir": portable_path(run.path.resolve(), out),
                 "manifest": portable_path(manifest, out) if isinstance(manifest, str) and Path(manifest).is_absolute() else manifest, "manifest_sha256": cfg.get("manifest_sha256"),
                 "corpora": data.corpora, "variant": data.variant, "n_items": int(len(data.y)),
                 "excluded": {k_: len(v) for k_, v in data.excluded.items()}},
        "labels": {"scheme": data.labels, "classes": data.classes,
                   "counts": counts,
                   "label_map": _label_map(data)},
        "speakers": sides,
        "grouping": grouping,
        "training": training,
        "curves": curves,
        "test": test,
    }
    if mask["validation"].any():  # early stopping's UAR over fewer classes is said too
        note = missing_class_note(counts["validation"])
        card["validation"] = {"n": int(mask["validation"].sum()), "missing_classes": [c for c, k in counts["validation"].items() if not k],
                              "flags": [note] if note else []}
    warning, said = parent_ref.get("warning"), "fine-tuned from a generated checkpoint: "
    if warning:  # a head of a head: said once, not once per generation
        card["warning"] = warning if str(warning).startswith(said) else said + warning
    # the run's speakers (or corpus) trained the parent: its parent_mapped figures are on its own training data
    card["parent"]["overlap"] = run_training_overlap(run)
    # a head on random features means nothing either: the flag travels, so every output of the head carries the banner
    card["parent"]["random_weights"] = bool(parent_ref.get("random_weights"))
    return card


def _label_map(data: TuneData) -> dict[str, str]:
    """Corpus label → the head's class, as the training data used it."""
    pairs = dict(zip(text_values(data.rows["label"]), data.y))
    return {k: v for k, v in sorted(pairs.items()) if k}
