"""Compare preprocessing variants of one run, or runs of one manifest, item by item.

Within one run (:func:`compare_results`, :func:`compare_run`) the variants are
compared with a baseline variant.  Across runs (:func:`compare_runs`) — other
checkpoints, precisions or engines on the same manifest — rows are paired by
(item id, variant) after checking that every run scored the same items and the
same audio (``source_sha256``, ``chain_hash``, segment), and each run is
compared with the first one by the same statistics, plus how much the runs
agree (:func:`agreement`).  Both give:

* per-variant metrics with bootstrap intervals (:func:`workbench.analysis.metrics.evaluate`);
* Δ WA and Δ UAR against the baseline with **paired** bootstrap intervals
  (the same resampled items for both variants);
* the **McNemar exact test** on the correct/incorrect pairs: with ``b`` items
  right only under the baseline and ``c`` right only under the variant,
  ``p = min(1, 2 · P[X ≤ min(b, c)])`` for ``X ~ Binomial(b + c, 1/2)``;
* the **flips** table: items whose predicted label changed, with both labels,
  confidences and findings;
* confidence shifts: variant confidence minus baseline confidence per item.

Between runs, in addition (every pair of runs, per variant):

* **Cohen's kappa** of the top-1 labels (sklearn's ``cohen_kappa_score``;
  undefined — NaN — when both runs give one and the same label to every item)
  and the **top-1 agreement** (share of items with the same label);
* **max |Δ score|** over the nine scores of an item, and the **total variation
  distance** ``½ Σ_k |p_k − q_k|`` of its two score vectors (max and mean over
  items);
* the **cosine** of the item's two utterance embeddings (min and mean over
  items; only when both runs used the *same checkpoint* — other precisions or
  engines — or the same encoder: a head-only fine-tune and its parent.  Two different checkpoints embed into unrelated spaces even when
  the dimension matches, so a cosine between them means nothing: it is
  n/a, with that reason, in ``cosine_note``);
* the items ranked by TVD, with both run folders, id and variant: :func:`show_item`
  shows one (both predictions, both score vectors, the audio as scored), and
  :class:`workbench.views.widgets.LowConfidenceBrowser` opens it from its run folder.
"""

from workbench.analysis.compare.variants import (  # noqa: F401  (the public names of both halves, importable from here)
    Comparison, compare_results, compare_run, default_baseline, family_line, flags_text, mcnemar_family, metric_flags, metrics_text, plot_comparison,
)
from workbench.analysis.compare.runs import (  # noqa: F401
    AGREEMENT_CSV, COMPARISON_JSON, FLIPS_CSV, ITEMS_CSV, RUNS_FIGURE, RunsComparison, check_comparable, compare_runs,
    describe_run, embeddings_comparable, write_runs_comparison,
)
from workbench.analysis.compare.figures import plot_item_scores, plot_runs_comparison, show_item  # noqa: F401
from workbench.analysis.stats import mcnemar_exact, paired_bootstrap_delta  # noqa: F401
from workbench.model.agreement import agreement, cohen_kappa, item_distances, row_cosines  # noqa: F401
