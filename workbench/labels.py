"""The nine emotion2vec+ classes (one label set among others) and the random-weights banner.

The order is the checkpoint's order (``tokens.txt``).  Each label has an
English key (used everywhere in tables and JSON), the Chinese name printed in
the checkpoint's tokens, and an emoji for displays.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.errors import ConfigError


@dataclass(frozen=True)
class Label:
    key: str
    chinese: str
    emoji: str

    @property
    def token(self) -> str:
        """The token as written in the checkpoint's ``tokens.txt``."""
        return "<unk>" if self.key == "unknown" else f"{self.chinese}/{self.key}"

    @property
    def display(self) -> str:
        return f"{self.emoji} {self.key}"


LABELS: tuple[Label, ...] = (
    Label("angry", "生气", "😠"),
    Label("disgusted", "厌恶", "🤢"),
    Label("fearful", "恐惧", "😨"),
    Label("happy", "开心", "😊"),
    Label("neutral", "中立", "😐"),
    Label("other", "其他", "🤔"),
    Label("sad", "难过", "😢"),
    Label("surprised", "吃惊", "😲"),
    Label("unknown", "<unk>", "❓"),
)

#: English keys in checkpoint order
LABEL_KEYS: tuple[str, ...] = tuple(label.key for label in LABELS)
#: tokens exactly as in an emotion2vec+ ``tokens.txt``
TOKENS: tuple[str, ...] = tuple(label.token for label in LABELS)

_BY_KEY = {label.key: label for label in LABELS}


def label(key: str) -> Label:
    """Return the :class:`Label` for an English key (``"happy"``)."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ConfigError(
            f"unknown emotion label {key!r}; expected one of {', '.join(LABEL_KEYS)}.",
            fix="use one of the nine emotion2vec+ English keys.",
        ) from None


def key_from_token(token: str) -> str:
    """Map a checkpoint token (``"生气/angry"``, ``"<unk>"``) to its English key."""
    if token == "<unk>":
        return "unknown"
    return token.split("/")[-1].strip()


#: printed (once) wherever a result comes from a seeded random test checkpoint
RANDOM_WEIGHTS_BANNER = (
    "RANDOM WEIGHTS: this result comes from a seeded random test checkpoint; its predictions mean nothing."
)


def head_random_banner(head: str, parent: str) -> str:
    """The banner of a fine-tuned head on a random parent, the same wording in every command (``run`` said the generic
    :data:`RANDOM_WEIGHTS_BANNER`, ``explain`` "fine-tuned from a generated checkpoint: …", neither naming the two)."""
    return (f"RANDOM WEIGHTS: this result comes from head {head}, fine-tuned from {parent}, a seeded random test "
            "checkpoint; its predictions mean nothing.")


#: what a figure of a random-weights run carries at its foot (PNG files travel without the screen's banner)
RANDOM_WEIGHTS_MARK = "RANDOM WEIGHTS: a seeded test checkpoint scored these; its predictions mean nothing"

#: generic English emotion names → emotion2vec+ key (free-form manifests and EmoBox)
GENERIC_LABELS: dict[str, str] = {
    **{k: k for k in LABEL_KEYS},
    "anger": "angry", "ang": "angry", "mad": "angry",
    "disgust": "disgusted", "dis": "disgusted",
    "fear": "fearful", "fea": "fearful", "afraid": "fearful", "scared": "fearful",
    "happiness": "happy", "hap": "happy", "joy": "happy", "exc": "happy", "excited": "happy",
    "neu": "neutral",
    "sadness": "sad",
    "surprise": "surprised", "sur": "surprised", "ps": "surprised", "pleasant_surprise": "surprised",
    "oth": "other",
}
