"""CASIA Chinese emotional speech corpus: the manifest reader, the label map and the speakers' table.

Four speakers, six emotions, laid out as ``<speaker>/<emotion>/<n>.wav``; the emotion is the folder's name
(``angry fear happy neutral sad surprise``).  The full distribution has two parts: 300 sentences read in every emotion
(``相同文本300``, speaker folders ``liuchanhg wangzhe zhaoquanyin ZhaoZuoxiang``: a file's number is its text's) and
100 sentences whose text suits one emotion (``不同文本100``, the same four speakers as ``Chang.Liu Zhe.Wang
Quanyin.Zhao Zuoxiang.Zhao``, the neutral folder named ``normal``).  A public loader of both parts maps each pair of
folder names to one speaker and ``normal`` to neutral (public GitHub code, index file 43550514467); the speakers' sex
(two women, two men) is as a public speaker-recognition project labels the same four recordings (女 liuchang,
zhaoquanyin; 男 wangzhe, zhaozuoxiang: index file 26520763789).  The corpus's own documentation was not found.

A widely shared copy (a speech-emotion project's data preparation, public GitHub code, index file 19092977570) renames
each file ``<n>-<emotion>-<speaker>.wav`` and moves it into one folder per emotion, ``CASIA/6/angry/201-angry-liuchanhg.wav``:
the speaker is then in the file name, not in a folder.  The reader took the folder above the emotion's (``6``) as the
speaker, so the four people became one speaker with no sex and a speaker-grouped split could not keep anyone out of
training; such a name gives the speaker, and a file whose name says another emotion than its folder is left out.
"""

from __future__ import annotations

import os
import re

from workbench.data.corpora.common import audio_files, finish, rel, require_dir
from workbench.data.manifest import Item, Manifest

NAME = "casia"

#: the emotion folder's name, lower-cased → emotion2vec+ key
LABEL_MAP = {"angry": "angry", "fear": "fearful", "happy": "happy", "neutral": "neutral", "sad": "sad", "surprise": "surprised"}
#: emotion folders of the different-text part named otherwise → the label they carry
FOLDER_LABELS = {"normal": "neutral"}
#: labels are words already: a head trained on CASIA's classes uses them as they are
CLASS_NAMES = None
#: a speaker folder, lower-cased → (the speaker, sex, the part it belongs to); the same-text part's folder name is the
#: speaker's id in both parts, so a person is one speaker however the parts name the folder
SPEAKERS = {
    "liuchanhg": ("liuchanhg", "female", "same-text"), "chang.liu": ("liuchanhg", "female", "different-text"),
    "wangzhe": ("wangzhe", "male", "same-text"), "zhe.wang": ("wangzhe", "male", "different-text"),
    "zhaoquanyin": ("zhaoquanyin", "female", "same-text"), "quanyin.zhao": ("zhaoquanyin", "female", "different-text"),
    "zhaozuoxiang": ("ZhaoZuoxiang", "male", "same-text"), "zuoxiang.zhao": ("ZhaoZuoxiang", "male", "different-text"),
}
#: the rearranged copy's file name, ``201-angry-liuchanhg``: the number, the emotion folder's name, the speaker folder's
_RENAMED = re.compile(r"^([0-9]+)-([A-Za-z]+)-([A-Za-z.]+)$")


def prepare(corpus_dir: str | os.PathLike) -> Manifest:
    """CASIA Chinese emotional speech: ``<speaker>/<emotion>/<n>.wav`` (4 speakers, 6 emotions).

    Speaker and sex from :data:`SPEAKERS` (a folder not in it is its own speaker, sex unknown, said in the notes; the
    rearranged copy's ``<emotion>/<n>-<emotion>-<speaker>.wav`` takes the name's speaker); ``meta.texts`` says the
    part (``same-text``: ``text_id`` is the file's number, one sentence read in every emotion; ``different-text``: no
    ``text_id``, each emotion has its own sentences)."""
    root = require_dir(corpus_dir, NAME)
    items, skipped, hidden, unknown, mismatched = [], [], [], {}, []
    for p in audio_files(root, hidden):
        folder = p.parent.name.lower()
        emo = FOLDER_LABELS.get(folder, folder)
        if emo not in LABEL_MAP:
            skipped.append(rel(p, root))
            continue
        speaker_folder, number = p.parent.parent.name, p.stem
        renamed = _RENAMED.match(p.stem)
        if renamed and renamed[3].lower() in SPEAKERS:  # renamed in place (liuchanhg/angry/) or moved too (6/angry/)
            person = SPEAKERS[renamed[3].lower()][0]
            if FOLDER_LABELS.get(renamed[2].lower(), renamed[2].lower()) != emo or \
                    SPEAKERS.get(speaker_folder.lower(), (person,))[0] != person:
                mismatched.append(rel(p, root))
                continue
            number, speaker_folder = renamed[1], renamed[3]
        elif speaker_folder.lower() not in SPEAKERS:
            unknown.setdefault(speaker_folder, []).append(rel(p, root))
        speaker, sex, texts = SPEAKERS.get(speaker_folder.lower(), (speaker_folder, "", ""))
        items.append(Item(
            id=f"{speaker_folder}_{folder}_{number}", path=rel(p, root), label=emo, emotion=LABEL_MAP[emo],
            speaker=speaker, gender=sex,
            meta={"corpus": NAME, "text_id": "" if texts == "different-text" else number, "texts": texts},
        ))
    manifest = finish(items, root, NAME, skipped, hidden=hidden)
    if unknown:
        manifest.notes.append(
            f"{sum(map(len, unknown.values()))} file(s) lie under folder(s) that are none of CASIA's four speakers "
            f"({', '.join(sorted(unknown)[:5])}{' …' if len(unknown) > 5 else ''}; e.g. {next(iter(unknown.values()))[0]}): each folder "
            "is taken as a speaker of its own, sex unknown. The corpus's layout is <speaker>/<emotion>/<n>.wav (speakers "
            "liuchanhg, wangzhe, zhaoquanyin, ZhaoZuoxiang, or Chang.Liu, Zhe.Wang, Quanyin.Zhao, Zuoxiang.Zhao); pass the "
            "folder that holds the speaker folders.")
    if mismatched:
        manifest.notes.append(
            f"{len(mismatched)} file(s) named <n>-<emotion>-<speaker> were left out: the emotion or the speaker in the name is "
            f"not the folder's, so the label or the speaker would be a guess (e.g. {', '.join(mismatched[:3])}).")
    return manifest
