"""Corpus loaders: one module per corpus (reader, label map, file names, listener reader), and the registry.

Each loader parses the corpus's own conventions from its files and folders as
distributed (file-name codes, folder names, IEMOCAP's EmoEvaluation files) and
maps its labels onto the nine emotion2vec+ classes through one explicit table
(the module's ``LABEL_MAP``, gathered in ``LABEL_MAPS`` and documented in
``datasets/README.md``).  A label without a counterpart (RAVDESS *calm*, EmoDB
*boredom*, IEMOCAP *frustrated*) keeps its corpus label in ``label`` and gets an
empty ``emotion``; metrics report how many items that excludes.

A wrong letter-to-emotion table silently poisons every number after it, so
the tables are data, written once in the corpus's module, and tested against
the corpora's documentation.  ``prepare(name, folder)`` picks the module by name
(:mod:`workbench.data.corpora.registry`); ``prepare_<corpus>`` are the modules'
readers under their old names.
"""

from __future__ import annotations

from workbench.data.corpora import (  # the modules themselves: every one is part of the package's documented surface
    casia, common, crema_d, emobox, emodb, esd, folder, iemocap, msp_podcast, ravdess, registry, tess,
)
from workbench.data.corpora.common import AUDIO_EXTS
from workbench.data.corpora.emobox import import_emobox
from workbench.data.corpora.folder import FOLDER_AUDIO_EXTS, prepare_folder
from workbench.data.corpora.registry import (
    CLASS_NAMES, class_name, CORPORA, corpus_key, for_labels, item_class, LABEL_MAPS, LABEL_NAMES, LISTENER_FACTS,
    map_label, prepare, PREPARERS, VOTE_FORMATS,
)
from workbench.data.manifest import GENERIC_LABELS, generic_emotion

prepare_emodb = emodb.prepare
prepare_ravdess = ravdess.prepare
prepare_crema_d = crema_d.prepare
prepare_tess = tess.prepare
prepare_iemocap = iemocap.prepare
prepare_esd = esd.prepare
prepare_casia = casia.prepare

__all__ = [
    "common", "emobox", "folder", "registry",
    "AUDIO_EXTS", "casia", "CLASS_NAMES", "class_name", "CORPORA", "corpus_key", "crema_d", "emodb", "esd", "FOLDER_AUDIO_EXTS",
    "for_labels", "GENERIC_LABELS", "generic_emotion", "iemocap", "import_emobox", "item_class", "LABEL_MAPS", "LABEL_NAMES",
    "LISTENER_FACTS", "map_label", "msp_podcast", "prepare", "prepare_casia", "prepare_crema_d", "prepare_emodb", "prepare_esd",
    "prepare_folder", "prepare_iemocap", "prepare_ravdess", "prepare_tess", "PREPARERS", "ravdess", "tess", "VOTE_FORMATS",
]
