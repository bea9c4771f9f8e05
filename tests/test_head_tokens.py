"""`workbench datasets import-votes --model HEAD` (and every command that names a head's classes) against a hostile
tokens.txt: duplicates, blank lines, a very long label, control characters, a line separator FunASR does not split at.

The labels read without building the network (``checkpoint_labels``) must be the ones the network gets when FunASR
loads the folder (its tokenizer reads tokens.txt in text mode: lines end at \\n, \\r\\n and \\r, each right-stripped,
blank lines kept), and a label a screen would act on or hide is refused naming its line."""

import pytest

from workbench.cli import main
from workbench.errors import ModelError
from workbench.model.network import checkpoint_labels, checkpoint_tokens, load_model


def head(tmp_path, name, tokens: bytes):
    """A generated checkpoint folder whose tokens.txt is ``tokens``."""
    import shutil

    from workbench.model.generated import build_random_checkpoint

    base = tmp_path / "tiny"
    if not base.exists():
        build_random_checkpoint(base)
    d = tmp_path / name
    shutil.copytree(base, d)
    (d / "tokens.txt").write_bytes(tokens)
    return d


def funasr_tokens(path):
    """tokens.txt as FunASR's tokenizer reads it (funasr/tokenizer/abs_tokenizer.py), written out here as the oracle."""
    with open(path / "tokens.txt", "r", encoding="utf-8") as f:
        return [line.rstrip() for line in f]


@pytest.mark.parametrize("name, tokens", [
    ("u2028", "calm\nte\u2028nse\n".encode()),  # str.splitlines made this three labels: calm, te, nse
    ("blank", b"calm\n\ntense\n"),  # the blank line was dropped: the labels no longer lined up with the outputs
    ("cr", b"calm\r\ntense\rsad\n"),
    ("plain", b"calm\ntense\n<unk>\n"),
])
def test_the_labels_read_without_the_network_are_the_ones_funasr_loads(tmp_path, name, tokens):
    d = head(tmp_path, name, tokens)
    assert checkpoint_tokens(d) == funasr_tokens(d)


@pytest.mark.parametrize("tokens, says", [
    (b"calm\ntense\ncalm\n", "(empty or repeated: 'calm')"),
    (b"calm\n\ntense\n", "(empty or repeated: a blank line)"),
    (b"calm\n" + b"x" * 100_000 + b"\n", "the label of line 2 of tokens.txt is 100,000 characters long"),
    (b"calm\nte\x1b[2Jnse\n", "the label of line 2 of tokens.txt, te\\x1b[2Jnse, holds a control character"),
    (b"calm\n\xe2\x80\xaeesnet\n", "the label of line 2 of tokens.txt, \\u202eesnet, holds"),
    ("calm\nte\u2028nse\n".encode(), "the label of line 2 of tokens.txt, te\\u2028nse, holds"),
    # two labels that every screen shows alike: a zero-width space, a soft hyphen, composed against decomposed é
    ("calm\ncalm\u200b\n".encode(), "(repeated as shown: 'calm', 'calm\\u200b')"),
    ("calm\nca\u00adlm\n".encode(), "(repeated as shown: 'calm', 'ca\\xadlm')"),
    ("caf\u00e9\ncafe\u0301\n".encode(), "(repeated as shown: "),
])
def test_import_votes_refuses_a_head_whose_labels_cannot_be_classes(tmp_path, capsys, tokens, says):
    d = head(tmp_path, "h", tokens)
    (tmp_path / "m.csv").write_text("id,path\na1,a1.wav\na2,a2.wav\n", encoding="utf-8")
    (tmp_path / "v.csv").write_text("id,rater_labels\na1,calm;calm\na2,tense\n", encoding="utf-8")
    rc = main(["datasets", "import-votes", str(tmp_path / "m.csv"), "--format", "generic", "--votes", str(tmp_path / "v.csv"),
               "--model", str(d), "--out", str(tmp_path / "out.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and says in err, err
    assert len(err) < 2_000 and "\x1b" not in err and "\u202e" not in err  # nothing flooded or acted on the screen
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(ModelError):
        checkpoint_labels(d)


def test_a_nine_class_tokens_txt_with_a_byte_order_mark_still_loads(tmp_path):
    """The mark stays in the first line (FunASR reads utf-8, not utf-8-sig), before the key: '\\ufeff生气/angry' is angry."""
    d = head(tmp_path, "bom", b"")
    (d / "tokens.txt").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "tiny" / "tokens.txt").read_bytes())
    assert checkpoint_labels(d) == list(load_model(str(d), device="cpu").labels)
