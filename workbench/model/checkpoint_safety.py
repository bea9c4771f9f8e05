"""What a checkpoint folder may ask the loader to do: nothing that runs, installs or fetches.

FunASR's loader merges every key of a checkpoint's ``config.yaml`` (and ``configuration.json``) into its
settings; some import Python files, pip-install requirements or download other models.
:func:`check_checkpoint` accepts only what an emotion2vec+ checkpoint needs, before anything is built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError, ModelError
from workbench.serialize import YAML_MAX_BYTES, load_yaml_file, loads_json, read_bytes_capped
from workbench.model.weights import short_error, weights_file

#: top-level ``config.yaml`` keys an emotion2vec+ checkpoint needs; FunASR merges every other key into
#: its loader's settings, and some of them import or install code or contact the network (below)
CONFIG_KEYS = ("model", "model_conf", "tokenizer", "tokenizer_conf", "scope_map", "ignore_init_mismatch", "excludes")
#: keys FunASR 1.4 acts on that make loading run code, install packages, fetch other models or read other files;
#: each value says what FunASR would do with it (funasr/download/download_model_from_hub.py, funasr/auto/auto_model.py)
DANGEROUS_CONFIG_KEYS = {
    "trust_remote_code": "makes FunASR import the checkpoint's Python code and pip-install its requirements.txt",
    "remote_code": "names a Python file (or URL) FunASR imports and runs when trust_remote_code is set",
    "init_param": "points FunASR's loader at another weights file (possibly outside the folder)",
    "model_path": "points FunASR at another folder",
    "config": "points FunASR at another config file",
    "vad_model": "makes FunASR download and build a second model",
    "punc_model": "makes FunASR download and build a second model",
    "spk_model": "makes FunASR download and build a second model",
    "frontend": "makes FunASR build a feature frontend emotion2vec does not have",
    "frontend_conf": "configures a frontend emotion2vec does not have",
    "hub": "makes FunASR download from a hub",
    "oss_bucket": "makes FunASR's loader read weights from a remote bucket",
    "jieba_usr_dict": "makes FunASR read another file",
}
TOKENIZER_CONF_KEYS = ("unk_symbol", "split_with_space", "token_list")
#: files whose presence means the checkpoint expects code to run or be installed
CODE_FILES = ("requirements.txt",)


def check_checkpoint(model_dir: str | os.PathLike) -> dict:
    """Refuse a checkpoint folder that would make loading execute, install or fetch anything.

    FunASR's loader reads ``configuration.json`` (when present) and ``config.yaml`` and merges every key
    into its settings; ``trust_remote_code``/``remote_code`` import Python files from the folder, a
    ``requirements.txt`` is pip-installed, ``vad_model``/``spk_model``/``punc_model`` download other
    models, and paths such as ``init_param`` or ``file_path_metas`` can point outside the folder.
    Only what an emotion2vec+ checkpoint needs is accepted (:data:`CONFIG_KEYS`, ``model: Emotion2vec``,
    ``tokenizer: CharTokenizer``); no flag turns this off.

    Parameters
    ----------
    model_dir : path
        The checkpoint folder (``config.yaml``, ``model.pt`` or ``model.safetensors``, ``tokens.txt``).

    Returns
    -------
    dict
        The parsed ``config.yaml``.

    Raises
    ------
    ModelError
        Naming the file, the key or file that is refused, what FunASR would do with it, and the fix.
    """
    root = Path(model_dir)
    _refuse_code_files(root)
    config_name = _config_name(root)
    cfg_path = root / config_name
    if cfg_path.is_symlink() and not _inside(root, cfg_path):
        raise ModelError("is a link to a file outside the checkpoint folder.", source=str(cfg_path), fix="copy the real config.yaml into the folder.")
    try:
        cfg = load_yaml_file(cfg_path)  # no aliases, bounded depth and size: a checkpoint may come from anyone
    except ConfigError as exc:
        raise ModelError(f"cannot read {config_name} ({exc.message}).", source=str(root), fix="download the complete checkpoint.") from None
    if not isinstance(cfg, dict):
        raise ModelError(f"is a {type(cfg).__name__}, not a mapping of settings.", source=str(cfg_path), fix="download the complete checkpoint.")
    _check_keys(cfg, cfg_path)
    if cfg.get("model") != "Emotion2vec":
        raise ModelError(
            f"checkpoint builds a {cfg.get('model')}, not an Emotion2vec model.",
            source=str(cfg_path),
            fix="pass an emotion2vec+ checkpoint such as iic/emotion2vec_plus_large.",
        )
    if not isinstance(cfg.get("model_conf"), dict):
        raise ModelError("has no model_conf mapping.", source=str(cfg_path), fix="use the config.yaml that came with the checkpoint.")
    _check_tokenizer(cfg, root, cfg_path)
    _check_network(cfg["model_conf"], cfg_path)
    _check_implied_size(cfg["model_conf"], cfg_path, weights_file(root))
    return cfg


#: the sizes in ``model_conf`` (and its modalities) that the network is built from, with the most a checkpoint may ask
#: for (plus_large: depth 24, embed_dim 1024, 16 heads): ``depth: 100000`` built 100,000 blocks (7.5 GB, 88 s) before
#: the weights were found not to fit
NETWORK_SIZE_LIMITS = {"depth": 256, "embed_dim": 16384, "num_heads": 256, "mlp_ratio": 64, "prenet_depth": 256,
                       "model_depth": 256, "num_extra_tokens": 4096, "decoder_dim": 16384, "decoder_layers": 256,
                       "decoder_groups": 1024, "decoder_kernel": 1024, "projection_layers": 256, "conv_pos_width": 4096,
                       "conv_pos_groups": 1024, "conv_pos_depth": 256, "num_alibi_heads": 256, "average_top_k_layers": 256}
#: the convolutional feature encoder FunASR builds from ``feature_encoder_spec``: layers, and channels/kernel/stride
MAX_FEATURE_LAYERS, MAX_FEATURE_SIZE = 64, 16384


def _check_network(model_conf: dict, cfg_path: Path) -> None:
    """Refuse sizes no emotion2vec network has, and a ``feature_encoder_spec`` that is not a list of (channels, kernel,
    stride) written with ``[ ]``, ``( )``, ``+`` and ``*``: FunASR passes that text to Python's ``eval`` (a config.yaml
    could run any code while the network was built)."""
    for key, value in _flat_items(model_conf):
        name = key.rsplit(".", 1)[-1]
        if name in NETWORK_SIZE_LIMITS and value is not None:
            limit = NETWORK_SIZE_LIMITS[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= limit:
                raise ModelError(f"model_conf.{key} is {value!r}; an emotion2vec network has a number from 0 to {limit} there.",
                                 source=str(cfg_path), fix="use the config.yaml that came with the checkpoint.")
    modalities = model_conf.get("modalities") or {}
    for name, modality in (modalities.items() if isinstance(modalities, dict) else []):
        if isinstance(modality, dict) and "feature_encoder_spec" in modality:
            _feature_layers(modality["feature_encoder_spec"], f"model_conf.modalities.{name}.feature_encoder_spec", cfg_path)


#: the most parameters a checkpoint's config may imply (plus_large has about 0.3 billion): 2 billion is 8 GB in float32
MAX_PARAMETERS = 2_000_000_000
#: the fewest bytes a weights file spends on one parameter (float16 / bfloat16)
MIN_BYTES_PER_PARAMETER = 2
#: the most bytes a weights file may hold per parameter :func:`implied_parameters` counts: float64 (8 bytes), times 3 for
#: what that lower bound leaves out and a checkpoint may carry (the EMA teacher's copy, the pre-training decoder, biases;
#: the generated checkpoints hold 4.2 to 5.5 bytes per counted parameter), plus :data:`WEIGHTS_ALLOWANCE_BYTES`
MAX_BYTES_PER_PARAMETER = 24
WEIGHTS_ALLOWANCE_BYTES = 64 * 2**20


def implied_parameters(model_conf: dict) -> int:
    """A lower bound on the parameters the network ``model_conf`` describes has, computed without building it.

    Counts the weight matrices of the transformer blocks (``depth`` after the prenet and ``prenet_depth`` inside the
    audio encoder; attention 4 D², MLP 2 r D² for ``embed_dim`` D and ``mlp_ratio`` r), the convolutions of the
    feature encoder (in x out x kernel) and its projection to D; biases, norms, positions and the pre-training
    decoder (which a fine-tuned weights file need not hold) are left out, so a real checkpoint always holds more.
    Sizes were checked against :data:`NETWORK_SIZE_LIMITS` first.
    """
    def size(conf: dict, key: str, default: float) -> float:
        value = conf.get(key, default)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default

    dim, ratio = size(model_conf, "embed_dim", 768), size(model_conf, "mlp_ratio", 4.0)
    blocks = size(model_conf, "depth", 0)
    conv = 0.0
    modalities = model_conf.get("modalities") or {}
    for name, modality in (modalities.items() if isinstance(modalities, dict) else []):
        if not isinstance(modality, dict):
            continue
        blocks += size(modality, "prenet_depth", 0)
        if "feature_encoder_spec" in modality:
            channels = 1
            for out, kernel, _ in _feature_layers(modality["feature_encoder_spec"], f"model_conf.modalities.{name}.feature_encoder_spec", Path()):
                conv += channels * out * kernel
                channels = out
            conv += channels * dim
    return int(blocks * (4 + 2 * ratio) * dim * dim + conv)


def _check_implied_size(model_conf: dict, cfg_path: Path, weights: Path | None) -> None:
    """Refuse a config whose network would be absurdly large, or larger than its weights file can hold, before
    anything is allocated: ``embed_dim: 16384`` with ``mlp_ratio: 64`` (each within its own limit) made the network
    builder ask for a single 64 GB weight before the weights file was looked at."""
    count = implied_parameters(model_conf)
    if count > MAX_PARAMETERS:
        raise ModelError(f"describes a network of at least {count:,} parameters ({count * 4 / 1e9:,.0f} GB in float32); "
                         f"the workbench builds at most {MAX_PARAMETERS:,} (emotion2vec_plus_large has about 300 million).",
                         source=str(cfg_path), fix="use the config.yaml that came with the checkpoint (check embed_dim, "
                         "mlp_ratio, depth, prenet_depth and feature_encoder_spec).")
    try:
        held = weights.stat().st_size if weights is not None else None
    except OSError:
        held = None
    if held is not None and count * MIN_BYTES_PER_PARAMETER > held:
        raise ModelError(f"describes a network of at least {count:,} parameters (at least {count * MIN_BYTES_PER_PARAMETER:,} "
                         f"bytes even in float16), but its weights file {weights.name} holds only {held:,} bytes; the "
                         "config and the weights do not belong together.", source=str(cfg_path),
                         fix="use the config.yaml that came with these weights (or the weights that came with this config).")
    most = count * MAX_BYTES_PER_PARAMETER + WEIGHTS_ALLOWANCE_BYTES
    if held is not None and held > most:  # refused before it is read or hashed (a 30 GB sparse file was hashed in full)
        raise ModelError(f"its weights file {weights.name} holds {held:,} bytes, and the network config.yaml describes (at least "
                         f"{count:,} parameters) can use at most about {most:,} ({MAX_BYTES_PER_PARAMETER} bytes a parameter, "
                         "EMA copy and decoder included): the weights are not this network's, or not weights.", source=str(weights),
                         fix="use the weights file that came with this config.yaml (download the checkpoint again).")


def _feature_layers(spec: Any, key: str, cfg_path: Path) -> list:
    """The (channels, kernel, stride) layers ``spec`` writes, computed without ``eval``; a ModelError for anything else."""
    import ast

    def refuse(why: str) -> ModelError:
        return ModelError(f"{key} {why}; it must be a list of (channels, kernel, stride) such as "
                          "'[(512, 10, 5)] + [(512, 3, 2)] * 4' (FunASR evaluates it as Python code).", source=str(cfg_path),
                          fix="use the config.yaml that came with the checkpoint.")

    if not isinstance(spec, str) or len(spec) > 1000:
        raise refuse("is not a short text")

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Tuple):
            return tuple(value(e) for e in node.elts)
        if isinstance(node, ast.List):
            return [value(e) for e in node.elts]
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Add) and isinstance(left, list) and isinstance(right, list):
                out = left + right
            elif isinstance(node.op, ast.Mult) and isinstance(left, list) and type(right) is int and 0 <= right <= MAX_FEATURE_LAYERS:
                out = left * right
            else:
                raise refuse("combines its parts other than list + list and list * count")
            if len(out) > MAX_FEATURE_LAYERS:
                raise refuse(f"has more than {MAX_FEATURE_LAYERS} layers")
            return out
        raise refuse(f"holds {type(node).__name__} {ast.unparse(node)[:40]!r}, not a number, tuple or list")

    try:
        tree = ast.parse(spec.strip(), mode="eval")
    except SyntaxError:
        raise refuse("is not a list expression") from None
    layers = value(tree.body)
    if not isinstance(layers, list) or not layers or not all(
            isinstance(t, tuple) and len(t) == 3 and all(type(v) is int and 1 <= v <= MAX_FEATURE_SIZE for v in t) for t in layers):
        raise refuse(f"does not make 1 to {MAX_FEATURE_LAYERS} layers of three whole numbers from 1 to {MAX_FEATURE_SIZE}")
    return layers


def _refuse_code_files(root: Path) -> None:
    for name in CODE_FILES:
        if (root / name).exists() or (root / name).is_symlink():
            raise ModelError(
                f"holds {name}, which FunASR pip-installs when a checkpoint asks for remote code; "
                "the workbench never installs or runs code from a checkpoint.",
                source=str(root / name),
                fix=f"an emotion2vec+ checkpoint needs no code: delete {name} if you trust the rest of the folder, "
                "or use the checkpoint from its original publisher.",
            )


def _config_name(root: Path) -> str:
    """The config file FunASR reads: ``config.yaml``, or what ``configuration.json`` names (every path in it checked)."""
    config_name = "config.yaml"
    cj = root / "configuration.json"
    if cj.is_file():
        try:
            conf_json = loads_json(read_bytes_capped(cj, max_bytes=YAML_MAX_BYTES, what="configuration.json", decompress=False))
        except ConfigError as exc:
            raise ModelError(exc.message, source=str(cj), fix="download the complete checkpoint.") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ModelError(f"cannot be read ({short_error(exc)}).", source=str(cj), fix="download the complete checkpoint.") from None
        metas = conf_json.get("file_path_metas") if isinstance(conf_json, dict) else None
        for key, value in _flat_items(metas or {}):
            _check_inside(root, cj, f"file_path_metas.{key}", value)
        if isinstance(metas, dict) and isinstance(metas.get("config"), str):
            config_name = metas["config"]
    return config_name


def _check_keys(cfg: dict, cfg_path: Path) -> None:
    for key in cfg:
        if key in DANGEROUS_CONFIG_KEYS:
            raise ModelError(
                f"sets {key!r}, which {DANGEROUS_CONFIG_KEYS[key]}; the workbench never runs, installs or fetches "
                "anything a checkpoint asks for.",
                source=str(cfg_path),
                fix=f"delete the {key!r} line: an emotion2vec+ checkpoint needs only {', '.join(CONFIG_KEYS)}.",
            )
        if key not in CONFIG_KEYS:
            raise ModelError(
                f"sets {key!r}, which an emotion2vec+ checkpoint does not use (FunASR would pass it on to its loader).",
                source=str(cfg_path),
                fix=f"delete the {key!r} line; the keys an emotion2vec+ config.yaml may hold are {', '.join(CONFIG_KEYS)}.",
            )


def _check_tokenizer(cfg: dict, root: Path, cfg_path: Path) -> None:
    tok = cfg.get("tokenizer")
    if tok not in (None, "CharTokenizer"):
        raise ModelError(f"asks for the tokenizer {tok!r}; emotion2vec+ uses 'CharTokenizer'.", source=str(cfg_path),
                         fix="set `tokenizer: CharTokenizer` as in the published checkpoints.")
    tconf = cfg.get("tokenizer_conf") or {}
    if not isinstance(tconf, dict):
        raise ModelError("tokenizer_conf is not a mapping.", source=str(cfg_path), fix="use the config.yaml that came with the checkpoint.")
    for key, value in tconf.items():
        if key not in TOKENIZER_CONF_KEYS:
            raise ModelError(f"sets tokenizer_conf.{key}, which emotion2vec+ does not use.", source=str(cfg_path),
                             fix=f"delete it; tokenizer_conf may hold {', '.join(TOKENIZER_CONF_KEYS)}.")
        if key == "token_list":
            _check_inside(root, cfg_path, "tokenizer_conf.token_list", value)


def _flat_items(d: Any, prefix: str = ""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flat_items(v, f"{prefix}{k}.")
    elif isinstance(d, (list, tuple)):
        for i, v in enumerate(d):
            yield from _flat_items(v, f"{prefix}{i}.")
    else:
        yield prefix.rstrip("."), d


def _inside(root: Path, path: Path) -> bool:
    try:
        return Path(os.path.realpath(path)).is_relative_to(Path(os.path.realpath(root)))
    except (OSError, ValueError):
        return False


def _check_inside(root: Path, file: Path, key: str, value: Any) -> None:
    """A path a checkpoint file names must be a plain file name inside the checkpoint folder."""
    if value is None:
        return
    text = str(value)
    if text.startswith(("http://", "https://", "ftp://", "oss://", "s3://")) or not _inside(root, root / text):
        raise ModelError(
            f"{key} names {text!r}, outside the checkpoint folder; FunASR would read it from there.",
            source=str(file),
            fix="a checkpoint's files must all lie in its own folder: copy the file in and name it relative to the folder.",
        )
