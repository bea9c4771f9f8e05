"""Seeded random emotion2vec checkpoints of the real architecture.

Model weights cannot be downloaded where this project is built and tested, so
the workbench writes checkpoints itself: the real ``config.yaml`` format, the
real nine ``tokens.txt`` entries and a ``model.pt`` whose weights come from a
seeded random initialisation.  They load through the same
``funasr.AutoModel(model=<dir>)`` path as a downloaded checkpoint.

* ``tiny``  – a few hundred KB; for tests and offline demos.
* ``large`` – the ``emotion2vec_plus_large`` sizes (1024-d, 8 + 16 blocks,
  about 300 M parameters); for speed benchmarks, since weights do not change
  speed.

**Predictions made with these checkpoints mean nothing.**  A ``RANDOM_MARKER``
file inside the directory lets the loader flag every output made with one.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .labels import TOKENS

logger = logging.getLogger(__name__)

#: file written into every generated checkpoint directory
RANDOM_MARKER = "WORKBENCH_RANDOM_CHECKPOINT.json"

# the conv feature encoder of every emotion2vec model: 320 samples per frame at
# 16 kHz, i.e. 50 frames per second.  Only the channel count is scaled.
_FEATURE_STRIDES = "[({c}, 10, 5)] + [({c}, 3, 2)] * 4 + [({c}, 2, 2)] + [({c}, 2, 2)]"


@dataclass(frozen=True)
class ArchSpec:
    """Sizes of an emotion2vec network (everything else is the real config)."""

    name: str
    embed_dim: int
    num_heads: int
    depth: int  # transformer blocks after the prenet
    prenet_depth: int  # transformer blocks inside the audio encoder
    conv_dim: int  # channels of the conv feature encoder
    conv_pos_groups: int
    decoder_dim: int
    decoder_groups: int
    decoder_layers: int


ARCHS: dict[str, ArchSpec] = {
    "tiny": ArchSpec("tiny", 32, 2, 1, 1, 32, 16, 16, 4, 1),
    # the sizes of iic/emotion2vec_plus_base (data2vec 2.0 base audio)
    "base": ArchSpec("base", 768, 12, 8, 4, 512, 16, 384, 16, 4),
    # the sizes of iic/emotion2vec_plus_large (data2vec 2.0 large audio)
    "large": ArchSpec("large", 1024, 16, 16, 8, 512, 16, 384, 16, 4),
}


def emotion2vec_config(arch: ArchSpec) -> dict:
    """Return a FunASR ``config.yaml`` dict for an emotion2vec+ classifier.

    Keys and values follow the published emotion2vec checkpoints; only the
    sizes in ``arch`` vary.  Dropout values are kept as published (they are
    inactive in ``eval()`` mode).
    """
    d = arch
    return {
        "model": "Emotion2vec",
        "model_conf": {
            "loss_beta": 0.0,
            "loss_scale": None,
            "depth": d.depth,
            "start_drop_path_rate": 0.0,
            "end_drop_path_rate": 0.0,
            "num_heads": d.num_heads,
            "norm_eps": 1e-05,
            "norm_affine": True,
            "encoder_dropout": 0.1,
            "post_mlp_drop": 0.1,
            "attention_dropout": 0.1,
            "activation_dropout": 0.0,
            "dropout_input": 0.0,
            "layerdrop": 0.05,
            "embed_dim": d.embed_dim,
            "mlp_ratio": 4.0,
            "layer_norm_first": False,
            "average_top_k_layers": d.depth,
            "end_of_block_targets": False,
            "clone_batch": 8,
            "layer_norm_target_layer": False,
            "batch_norm_target_layer": False,
            "instance_norm_target_layer": True,
            "instance_norm_targets": False,
            "layer_norm_targets": False,
            "ema_decay": 0.999,
            "ema_same_dtype": True,
            "log_norms": True,
            "ema_end_decay": 0.99999,
            "ema_anneal_end_step": 20000,
            "ema_encoder_only": False,
            "max_update": 100000,
            "extractor_mode": "layer_norm",
            "shared_decoder": None,
            "min_target_var": 0.1,
            "min_pred_var": 0.01,
            "supported_modality": "AUDIO",
            "mae_init": False,
            "seed": 1,
            "skip_ema": False,
            "cls_loss": 1.0,
            "recon_loss": 0.0,
            "d2v_loss": 1.0,
            "decoder_group": False,
            "adversarial_training": False,
            "adversarial_hidden_dim": 128,
            "adversarial_weight": 0.1,
            "cls_type": "chunk",
            "normalize": True,
            "modalities": {
                "audio": {
                    "type": "AUDIO",
                    "prenet_depth": d.prenet_depth,
                    "prenet_layerdrop": 0.05,
                    "prenet_dropout": 0.1,
                    "start_drop_path_rate": 0.0,
                    "end_drop_path_rate": 0.0,
                    "num_extra_tokens": 10,
                    "init_extra_token_zero": True,
                    "mask_noise_std": 0.01,
                    "mask_prob_min": None,
                    "mask_prob": 0.5,
                    "inverse_mask": False,
                    "mask_prob_adjust": 0.05,
                    "keep_masked_pct": 0.0,
                    "mask_length": 5,
                    "add_masks": False,
                    "remove_masks": False,
                    "mask_dropout": 0.0,
                    "encoder_zero_mask": True,
                    "mask_channel_prob": 0.0,
                    "mask_channel_length": 64,
                    "ema_local_encoder": False,
                    "local_grad_mult": 1.0,
                    "use_alibi_encoder": True,
                    "alibi_scale": 1.0,
                    "learned_alibi": False,
                    "alibi_max_pos": None,
                    "learned_alibi_scale": True,
                    "learned_alibi_scale_per_head": True,
                    "learned_alibi_scale_per_layer": False,
                    "num_alibi_heads": d.num_heads,
                    "model_depth": d.depth,
                    "decoder": {
                        "decoder_dim": d.decoder_dim,
                        "decoder_groups": d.decoder_groups,
                        "decoder_kernel": 7,
                        "decoder_layers": d.decoder_layers,
                        "input_dropout": 0.1,
                        "add_positions_masked": False,
                        "add_positions_all": False,
                        "decoder_residual": True,
                        "projection_layers": 1,
                        "projection_ratio": 2.0,
                    },
                    "extractor_mode": "layer_norm",
                    "feature_encoder_spec": _FEATURE_STRIDES.format(c=d.conv_dim),
                    "conv_pos_width": 95,
                    "conv_pos_groups": d.conv_pos_groups,
                    "conv_pos_depth": 5,
                    "conv_pos_pre_ln": False,
                }
            },
        },
        "tokenizer": "CharTokenizer",
        "tokenizer_conf": {"unk_symbol": "<unk>", "split_with_space": True},
    }


def build_random_checkpoint(
    out_dir: str | os.PathLike,
    *,
    arch: str | ArchSpec = "tiny",
    seed: int = 0,
) -> Path:
    """Write a seeded random emotion2vec+ checkpoint into ``out_dir``.

    The directory receives ``config.yaml``, ``model.pt`` (``{"model":
    state_dict}`` as FunASR saves it), ``tokens.txt`` and the random marker.
    The same ``arch`` and ``seed`` always give the same weights.

    Returns the directory.
    """
    import torch
    import yaml

    from .errors import ConfigError
    from .model import import_funasr

    Emotion2vec = import_funasr().models.emotion2vec.model.Emotion2vec

    if isinstance(arch, str):
        if arch not in ARCHS:
            raise ConfigError(
                f"unknown architecture {arch!r}; expected one of {', '.join(ARCHS)}.",
                fix="pass arch='tiny' for tests or arch='large' for benchmarks.",
            )
        arch = ARCHS[arch]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = emotion2vec_config(arch)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = Emotion2vec(model_conf=config["model_conf"], vocab_size=len(TOKENS))
        # the fine-tuned checkpoints have non-zero extra tokens and alibi
        # scales; random ones keep every code path numerically active
        with torch.no_grad():
            enc = net.modality_encoders["AUDIO"]
            enc.extra_tokens.normal_(0.0, 0.02)
            if enc.alibi_scale is not None:
                enc.alibi_scale.uniform_(0.5, 1.5)
        state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}

    tmp_suffix = f".tmp-{os.getpid()}"
    (out / ("config.yaml" + tmp_suffix)).write_text(
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    (out / ("tokens.txt" + tmp_suffix)).write_text("\n".join(TOKENS) + "\n", encoding="utf-8")
    torch.save({"model": state}, out / ("model.pt" + tmp_suffix))
    n_params = sum(v.numel() for v in state.values())
    marker = {
        "warning": "Random weights: predictions made with this checkpoint mean nothing.",
        "arch": asdict(arch),
        "seed": seed,
        "parameters": int(n_params),
        "made_by": "workbench.checkpoints.build_random_checkpoint",
    }
    (out / (RANDOM_MARKER + tmp_suffix)).write_text(json.dumps(marker, indent=2), encoding="utf-8")
    # the marker goes last so a half-written directory is never mistaken for a checkpoint
    for name in ("config.yaml", "tokens.txt", "model.pt", RANDOM_MARKER):
        os.replace(out / (name + tmp_suffix), out / name)
    logger.info("wrote random %s checkpoint (%d parameters, seed %d) to %s", arch.name, n_params, seed, out)
    return out


def random_checkpoint_info(model_dir: str | os.PathLike) -> dict | None:
    """Return the marker of a workbench-made random checkpoint, or ``None``."""
    path = Path(model_dir) / RANDOM_MARKER
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def cache_dir() -> Path:
    """Where the workbench keeps generated checkpoints (``$WORKBENCH_CACHE``)."""
    root = os.environ.get("WORKBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "emotion-workbench"
    )
    return Path(root)


def ensure_random_checkpoint(arch: str = "tiny", *, seed: int = 0) -> Path:
    """Return the cached random checkpoint for ``arch``/``seed``, building it once."""
    target = cache_dir() / "checkpoints" / f"random-{arch}-seed{seed}"
    if random_checkpoint_info(target) is None:
        build_random_checkpoint(target, arch=arch, seed=seed)
    return target
