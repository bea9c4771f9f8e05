"""``workbench finetune``: a new classification head (and, with ``--unfreeze K``, adapted encoder blocks) for a corpus's own labels, written as a checkpoint folder.

The probe (:mod:`workbench.analysis.probe`) says how well a linear classifier on the frozen utterance
embeddings separates a corpus's classes; this package turns that classifier into a model anyone can run.
emotion2vec+'s utterance logits are ``proj(mean of the frame features)``, and a run keeps that mean as
its utterance embedding, so a head trained on a run's embeddings *is* a new ``proj``: written into a
copy of the parent checkpoint (``config.yaml``, ``model.safetensors``, ``tokens.txt`` naming the new
labels), it loads through the same path as any checkpoint, runs no code, and gives frame scores, ONNX
exports and explanations like the published heads.

* :mod:`.data` — labels: the corpus's own classes under readable names (EmoDB ``L`` is ``boredom``;
  :func:`workbench.data.corpora.class_name`), or with ``labels="nine"`` the nine-class mapping; speakers split
  into train / validation / test (:func:`split_speakers`), or whole sessions where a session's speakers share its
  dialogs (IEMOCAP) or ``folds="session"`` (:func:`~workbench.analysis.finetune.data.holdout_groups`); the test
  side is never seen in training or stopping and gives the held-out figure on the card, with the checks ``metrics``
  applies (missing classes, chance, zero-width intervals);
* :mod:`.head` — training (:func:`train_head`): plain PyTorch (``torch.optim.AdamW``), class-balanced
  cross-entropy, inputs standardised (folded back into the weights), seeded, early stopping on held-out
  *speakers*; a progress line counts the epochs against the early-stopping bound (no time-left estimate) and shows
  the validation UAR;
* :mod:`.encoder` — ``--unfreeze K --adapt full|lora``: the top K transformer blocks trained too, on the audio as
  the run scored it; LoRA (``peft``) is merged into the weights before saving;
* :mod:`.checkpoint` — the folder and its training card (``training_card.json``,
  :data:`~workbench.model.checkpoints.TRAINING_CARD`): parent checksum, manifest sha256, the speakers of each side,
  hyper-parameters, curves, seed.  Through it :mod:`workbench.data.cards` warns when the corpus or the training
  speakers are evaluated again;
* :mod:`.evaluate` — (:func:`evaluate_finetune`): the whole training procedure under speaker-independent
  cross-validation (or EmoBox folds), UAR/WA/macro-F1 with bootstrap intervals, beside the parent's
  predictions mapped onto the same classes and beside the probe on the same folds;
* :mod:`.partition` — ``validation="auto"|"split"|"speakers"``: where the manifest's ``split`` column has a train and a
  dev set the saved head trains on train, early-stops on dev and is tested on each test set on its own
  (:func:`validation_mode`); items whose split value has no role are left out and counted; the card's ``partition``
  names each side's split values and counts;
* :mod:`.core` — :func:`finetune`, the steps in order.

Measured: head-only training on a CPU takes seconds; ``--unfreeze`` figures in ``benchmarks/README.md``.
"""

from workbench.analysis.finetune.checkpoint import CARD_FORMAT, CHECKPOINT_FILES, fix_card, parent_folder, write_checkpoint
from workbench.analysis.finetune.core import FinetuneResult, finetune
from workbench.analysis.finetune.data import LABEL_SETS, TuneData, class_order, row_targets, split_speakers, tune_data
from workbench.analysis.finetune.encoder import ADAPT_MODES, EncoderFit, EncoderTraining, encoder_blocks, train_encoder
from workbench.analysis.finetune.evaluate import evaluate_finetune, mapped_parent_predictions
from workbench.analysis.finetune.head import HeadFit, HeadTraining, class_weights, train_head
from workbench.analysis.finetune.partition import VALIDATION_MODES, validation_mode

