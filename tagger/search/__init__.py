"""Search per loss: a grid of settings tried on validation, the best one trained for the sweep.

A loss of the sweep is tuned when its entry has a ``search`` mapping (docs/sweeps.md)::

    sweep:
      losses:
        - {name: ce, search: {}}                           # tuned over sweep.search.learning_rate only
        - {name: focal, gamma: 2.0, search: {gamma: [1, 2, 3]}}
        - {name: soft_truncation, k: 1.0, form: neg_softmax, search: {k: [0.5, 1, 2]}}
        - {name: dice}                                     # not tuned: trained as written
      seeds: [1, 2, 3]                                     # the final runs
      search:
        learning_rate: [5e-5, 1e-4, 1.5e-4, 3e-4]          # tried for every entry with a `search`
        seeds: [1, 2]                                      # every point is trained on each of them
        epochs: null                                       # epochs of a search run (null: training.epochs)

The space of an entry is the product of its ``search`` lists (loss parameters, or ``learning_rate``
to replace the shared list for that loss) and ``sweep.search.learning_rate``. Every point of it is
trained on every search seed, each such run a folder ``runs/search/<setting>-seed<k>/`` trained by
the recipe's own run code, so claims and resuming apply to them as to any run. A point scores the
mean validation F1 over its seeds; the point with the highest score is the choice (test scores are
never read), and the sweep then trains it on its own seeds like any other loss, as the row
``<loss>(<chosen values>)``.

The grid is an Optuna study per loss (:func:`run_searches`): ``GridSampler`` hands each trial a point
of the grid (trial k gets point k, and trial numbers are unique across processes), one trial per
point. The studies live in ``OUTPUT/search.journal``, an Optuna journal file: appends under a lock
file made with ``O_EXCL``, which works for several processes on one machine and for several
machines on a shared folder (NFS), where SQLite's locks are not to be trusted. A study resumes from
that file: points already scored are not trained again.
"""

from tagger.search.space import (
    MAX_GRID_POINTS,
    SEARCH_KEY,
    SEARCH_RUNS,
    SEARCHABLE_TRAINING,
    SearchSpace,
    point_score,
    search_spaces,
    setting_label,
    split_search,
    sweep_jobs,
)
from tagger.search.studies import (
    POLL_SECONDS,
    STORAGE_NAME,
    STUDY_KIND,
    TrainFn,
    best_point,
    open_storage,
    open_study,
    repair_journal,
    run_searches,
    scored_points,
)
from tagger.search.summary import search_markdown, search_summary, study_summary, trains_choice, tuned_note

__all__ = [
    "MAX_GRID_POINTS", "POLL_SECONDS", "SEARCHABLE_TRAINING", "SEARCH_KEY", "SEARCH_RUNS", "STORAGE_NAME",
    "STUDY_KIND", "SearchSpace", "TrainFn", "best_point", "open_storage", "open_study", "point_score",
    "repair_journal", "run_searches", "scored_points", "search_markdown", "search_spaces",
    "search_summary", "setting_label", "split_search", "study_summary", "sweep_jobs",
    "trains_choice", "tuned_note",
]
