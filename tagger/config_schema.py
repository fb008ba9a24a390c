"""The recipe's configuration as typed sections: every key of ``model``, ``data``, ``training``, ``loss``,
``sweep`` and ``output`` with its default, its help and the rules on its own value (field metadata), and
the sweep a configuration describes (its run specs).

Loading a configuration and the checks that need more than one key are :mod:`tagger.config`'s; reading,
overrides and checking field metadata are :mod:`tagger.typed_config`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tagger.catalog import PACKAGED_ENCODER
from tagger.console import LOG_LEVELS
from tagger.crf import HEADS
from tagger.decoding import DECODINGS, DEFAULT_SWEEP_DECODINGS, SCORINGS
from tagger.losses.labels import split_spec
from tagger.metrics import MODES
from tagger.search import split_search
from tagger.search.space import sweep_order
from tagger.train.augment import AUGMENTATION
from tagger.train.precision import PRECISIONS
from tagger.train.sampling import SAMPLING
from tagger.train.shards import check_shard
from tagger.train.tracking import REPORT_TO
from tagger.typed_config import Sibling
from tagger.typed_config import help_text as typed_help_text

MAX_SEED = 2**32 - 1  # numpy's random seed must fit in 32 bits


def _known_scheme(name: str) -> None:
    from tagger.data.schemes import normalize_scheme

    normalize_scheme(name)


@dataclass
class ModelConfig:
    name_or_path: str = field(
        default=PACKAGED_ENCODER,
        metadata={"help": f"Encoder: a Hub id, a local HF folder, or '{PACKAGED_ENCODER}' (the packaged MiniLM)."},
    )
    revision: str | None = field(default=None, metadata={"help": "Hub revision (branch, tag or commit) of the encoder."})
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Run model code shipped with a Hub repository (off: only transformers' own code)."}
    )
    allow_pickle_weights: bool = field(
        default=False,
        metadata={"help": "Allow loading pickle (.bin) weights; by default only safetensors load, as pickle can run code."},
    )
    attn_implementation: str | None = field(
        default=None, metadata={"help": "Attention kernel: 'sdpa', 'eager' or null for the transformers default."}
    )
    head: str = field(
        default="linear",
        metadata={"help": "Output layer: 'linear' (the token classifier alone, decoded by training.decoding) or "
                          "'crf' (a linear-chain CRF on its scores: learned tag transitions, the scheme's forbidden "
                          "ones masked, decoded by its own Viterbi; docs/decoding.md#crf-head). A training lever like "
                          "data.sampling.",
                  "choices": HEADS},
    )
    freeze_layers: int = field(
        default=0,
        metadata={"help": "Keep the embeddings and this many of the lowest encoder layers at their pretrained "
                          "weights (faster steps: no gradients below the lowest trained layer; "
                          "tagger/train/freeze.py). 0: every weight is trained.", "min": 0},
    )
    crf_token_weight: float = field(
        default=1.0,
        metadata={"help": "head crf: the loss is the CRF's NLL per labelled token + this x the run's loss on the "
                          "token classifier's scores (0: the CRF alone).", "min": 0.0},
    )
    # At the encoder's rate AdamW moves a score by at most the sum of its step sizes (about the peak rate
    # times the steps: a few hundredths over a default WNUT-17 run), too little for transition scores that
    # start at 0 to learn the label grammar; hence a rate of its own (docs/decoding.md#crf-head).
    crf_learning_rate: float | None = field(
        default=0.01,
        metadata={"help": "head crf: peak learning rate of the CRF's transition, start and end scores (null: "
                          "training.learning_rate); same warm-up and decay, no weight decay.", "gt": 0.0},
    )


@dataclass
class DataConfig:
    name: str | None = field(
        default="wnut17",
        metadata={"help": "'wnut17', 'conll2003', a local folder with train/validation/test files, or a Hub data set id."},
    )
    train_file: str | None = field(default=None, metadata={"help": "Explicit training file (CoNLL columns or JSON lines)."})
    validation_file: str | None = field(default=None, metadata={"help": "Explicit validation file."})
    test_file: str | None = field(default=None, metadata={"help": "Explicit test file."})
    data_dir: str | None = field(default=None, metadata={"help": "Where named data sets live (else $TAGGER_DATA_DIR, data/, ../shared/data/)."})
    tokens_column: str | None = field(default=None, metadata={"help": "Column of words in a Hub data set (detected if null)."})
    tags_column: str | None = field(default=None, metadata={"help": "Column of tags in a Hub data set (detected if null)."})
    scheme: str = field(
        default="IOB2", metadata={"help": "Tagging scheme to train on: IOB2, IOBES or BILOU.", "check": _known_scheme}
    )
    # At least [CLS] text [SEP]; check_window checks both against the tokenizer's own special tokens.
    max_length: int = field(default=128, metadata={"help": "Subwords per window, special tokens included.", "min": 3})
    stride: int = field(
        default=32,
        metadata={"help": "Overlap in subwords between consecutive windows of a long sentence.",
                  "min": 0, "lt": Sibling("max_length", -2)},
    )
    label_all_subwords: bool = field(default=False, metadata={"help": "Train on every subword (default: first subword of each word)."})
    max_train_sentences: int | None = field(
        default=None, metadata={"help": "Use only the first N training sentences (quick runs).", "min": 1}
    )
    max_eval_sentences: int | None = field(
        default=None, metadata={"help": "Use only the first N validation and test sentences.", "min": 1}
    )
    cache: bool = field(default=True, metadata={"help": "Cache the tokenized splits on disk under output_dir/.cache."})
    sampling: str = field(
        default="none",
        metadata={"help": "Training sentences against the imbalance: 'none', 'drop_empty' (keep only keep_empty of the "
                          "sentences without entities) or 'oversample_rare' (repeat sentences with the rarest types "
                          "up to rare_share of the sentences); seeded by the run's seed (tagger/train/sampling.py).",
                  "choices": SAMPLING},
    )
    keep_empty: float = field(
        default=0.5, metadata={"help": "drop_empty: share of the sentences without entities that are kept.", "gt": 0.0,
                               "max": 1.0},
    )
    rare_share: float = field(
        default=0.2, metadata={"help": "oversample_rare: share of training sentences holding a rare type to reach.",
                               "gt": 0.0, "lt": 1.0},
    )
    context: int = field(
        default=0,
        metadata={"help": "Document context (FLERT, Schweter and Akbik 2020): subwords of the neighbouring sentences "
                          "of the same document put on each side of a sentence's own in its windows, up to "
                          "max_length; they carry no label and no loss and are never scored, and never cross a "
                          "document boundary (-DOCSTART- lines, a document_id field or column; data without them: "
                          "every sentence is a document of its own). 0: off. Saved with the model, and used by "
                          "`tagger predict` on documents (docs/levers.md#document-context). A training lever like "
                          "data.sampling.", "min": 0},
    )
    augment: str = field(
        default="none",
        metadata={"help": "New training sentences made from those holding augment_types (Dai and Adel, 2020): "
                          "'none', 'mention_replacement' (a mention swapped for another training mention of its "
                          "type, tags rewritten in data.scheme), 'label_wise_token_replacement' (a word swapped "
                          "for a training word with the same tag) or 'shuffle_within_segments' (the words of a "
                          "mention or of a run of O words shuffled); encoded with the sweep's tokenizer and added "
                          "before data.sampling; seeded by the run's seed; validation and test untouched "
                          "(tagger/train/augment.py). A training lever like data.sampling.",
                  "choices": AUGMENTATION},
    )
    augment_types: list[str] = field(
        default_factory=list,
        metadata={"help": "augment: entity types whose sentences are augmented (each must occur in the training "
                          "split); empty: the rarest types, as oversample_rare picks them.", "unique": True},
    )
    augment_copies: int = field(
        default=1,
        metadata={"help": "augment: candidates made from each sentence holding such a type; one identical to its "
                          "sentence is not added.", "min": 1},
    )
    augment_rate: float = field(
        default=0.3,
        metadata={"help": "augment: chance that each unit of a candidate changes (a mention of those types, a word, "
                          "a segment of two words or more); when none is drawn, one at random does.",
                  "gt": 0.0, "max": 1.0},
    )


@dataclass
class TrainingConfig:
    # The defaults are the measured default sweep (WNUT-17, packaged MiniLM, 2 CPU cores), so a config
    # file that leaves a key out trains as that sweep did. Small batches because on this data the
    # number of optimizer steps matters more than the batch size: 3 epochs of 4,096-token batches at
    # lr 3e-4 reached validation F1 39.3, 32-sentence batches at 5e-5 reached 43.8.
    epochs: int = field(default=2, metadata={"help": "Passes over the training split.", "min": 1})
    learning_rate: float = field(default=1.5e-4, metadata={"help": "Peak learning rate of AdamW.", "gt": 0})
    weight_decay: float = field(
        default=0.01, metadata={"help": "AdamW weight decay (never on biases and LayerNorm weights).", "min": 0}
    )
    warmup_ratio: float = field(
        default=0.1, metadata={"help": "Share of optimizer steps spent warming up linearly.", "min": 0, "lt": 1}
    )
    max_tokens_per_batch: int = field(
        default=1024,
        metadata={"help": "Token budget of a training batch: sentences x longest length (padding included).", "min": 1},
    )
    max_sentences_per_batch: int = field(
        default=32, metadata={"help": "Upper bound on sentences in a training batch.", "min": 1}
    )
    eval_max_tokens_per_batch: int = field(
        default=8192, metadata={"help": "Token budget of an evaluation batch.", "min": 1}
    )
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step.", "min": 1})
    max_grad_norm: float = field(
        default=1.0, metadata={"help": "Gradient clipping norm (0 disables clipping).", "min": 0}
    )
    patience: int | None = field(
        default=None, metadata={"help": "Stop after N epochs without a better validation F1.", "min": 1}
    )
    max_steps: int | None = field(
        default=None, metadata={"help": "Stop after N optimizer steps (tests, quick checks).", "min": 1}
    )
    seed: int = field(default=1, metadata={"help": "Seed when the sweep lists no seeds.", "min": 0, "max": MAX_SEED})
    metric_mode: str = field(
        default="conlleval",
        metadata={"help": "seqeval mode: 'conlleval' (official CoNLL/WNUT) or 'strict'.", "choices": MODES},
    )
    decoding: str = field(
        default="viterbi",
        metadata={"help": "How per-word probabilities become tags for the run's scores (validation picks the best "
                          "epoch with it; all_results.json's validation/test, test_predictions.conll): 'viterbi' "
                          "(the best sequence the tagging scheme allows, always well-formed) or 'argmax' (each word "
                          "its most probable tag, as the transformers pipeline). Every run also scores the other "
                          "decodings, with the O bias and per-type biases tuned on validation "
                          "(docs/decoding.md).",
                  "choices": DECODINGS},
    )
    checkpointing: str = field(
        default="epoch",
        metadata={"help": "'epoch' (save_state after every epoch) or 'no'.", "choices": ("epoch", "no")},
    )
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "A checkpoint folder, or 'latest' for the newest one of each run."}
    )
    max_nonfinite_steps: int = field(
        default=10,
        metadata={"help": "Stop a run after this many consecutive optimizer steps with a NaN/inf loss or gradient.",
                  "min": 1}
    )
    num_threads: int | None = field(
        default=None,
        metadata={"help": "torch intra-op threads on CPU (null: the cores available divided by the local processes).",
                  "min": 1},
    )
    fast_dropout: bool = field(
        default=True,
        metadata={"help": "On CPU, draw dropout masks 4 per 64-bit random word instead of PyTorch's per-element "
                          "Bernoulli (faster steps, measured in docs/performance.md; drop probability rounded to a multiple of "
                          "2^-15). "
                          "No effect on GPU or in evaluation."},
    )
    log_every_steps: int = field(
        default=20, metadata={"help": "Optimizer steps between logged training losses.", "min": 1}
    )
    mixed_precision: str | None = field(
        default="auto",
        metadata={"help": "'auto': bf16/fp16 if `accelerate launch --mixed_precision` or `accelerate config` asks "
                          "for it, else bf16 autocast where the hardware multiplies bf16 natively (a CPU with "
                          "AVX512-BF16/AMX, measured in docs/performance.md; a GPU from Ampere on), else fp32. "
                          "'no' (fp32), 'bf16' or 'fp16' force it; null leaves it to Accelerate. Weights, "
                          "optimizer and loss stay fp32.",
                  "choices": PRECISIONS},
    )


@dataclass
class SearchConfig:
    # What every tuned loss shares; a loss is tuned when its sweep.losses entry has `search: {param: [values]}`
    # (tagger/search/, docs/sweeps.md).
    learning_rate: list[float] = field(
        default_factory=list,
        metadata={"help": "Learning rates tried for every sweep.losses entry with a `search` (an entry's own "
                          "`search: {learning_rate: [...]}` replaces them); empty: not searched.",
                  "gt": 0, "unique": True},
    )
    seeds: list[int] = field(
        default_factory=list,
        metadata={"help": "Seeds every point of a search is trained on; it is chosen by mean validation F1 over "
                          "them. Empty: sweep.seeds.", "min": 0, "max": MAX_SEED, "unique": True},
    )
    epochs: int | None = field(
        default=None, metadata={"help": "Epochs of a search run (null: training.epochs).", "min": 1}
    )


@dataclass
class SweepConfig:
    losses: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={"help": "Losses to compare, each {name: ..., <params>} and, to tune it on validation first, "
                          "search: {<param>: [values]}; empty: the single `loss`.", "unique": True},
    )
    seeds: list[int] = field(
        default_factory=list,
        metadata={"help": "Seeds for every loss; empty: training.seed.", "min": 0, "max": MAX_SEED, "unique": True},
    )
    sampling: list[str] = field(
        default_factory=list,
        metadata={"help": "Sampling methods to compare (an axis: every loss is trained with each); empty: "
                          "data.sampling.", "choices": SAMPLING, "unique": True},
    )
    augment: list[str] = field(
        default_factory=list,
        metadata={"help": "Augmentation methods to compare (an axis: every loss is trained with each); empty: "
                          "data.augment.", "choices": AUGMENTATION, "unique": True},
    )
    context: list[int] = field(
        default_factory=list,
        metadata={"help": "Document context sizes to compare, in subwords a side (an axis: every loss is trained "
                          "with each; 0: none); empty: data.context.", "min": 0, "unique": True},
    )
    heads: list[str] = field(
        default_factory=list,
        metadata={"help": "Heads to compare (an axis: every loss is trained with each); empty: model.head.",
                  "choices": HEADS, "unique": True},
    )
    shard: str | None = field(
        default=None,
        metadata={"help": "'I/N': this launch is shard I of N (0 <= I < N) and trains every N-th pending run, then "
                          "helps with runs no shard holds; runs are claimed, so each trains once "
                          "(recipes/ner.py --shard I/N; docs/sweeps.md). null: the whole sweep.",
                  "check": check_shard},
    )
    workers: int = field(
        default=1,
        metadata={"help": "Runs trained at once on this machine's CPU, each process with an equal share of the "
                          "cores: the launch starts workers-1 copies of itself as shards and writes the summary "
                          "when they end (tagger/train/workers.py; measured in docs/performance.md). For a launch "
                          "of one process on CPU; with a GPU the runs train one after another.", "min": 1},
    )
    decodings: list[str] = field(
        default_factory=lambda: list(DEFAULT_SWEEP_DECODINGS),
        metadata={"help": "Scorings the summary compares, one row per (loss, scoring): a decoding, '+threshold' "
                          "with the O bias tuned on validation, '+type_thresholds' with a bias per entity type on "
                          "top (docs/decoding.md). Empty: training.decoding only.",
                  "choices": SCORINGS, "unique": True},
    )
    search: SearchConfig = field(default_factory=SearchConfig)


@dataclass
class OutputConfig:
    output_dir: str = field(default="outputs/wnut17-minilm", metadata={"help": "Folder of the sweep; every run writes below it."})
    overwrite: bool = field(default=False, metadata={"help": "Redo runs whose results already exist (default: skip them)."})
    save_model: bool = field(default=True, metadata={"help": "Save each run's best model in HF format."})
    report: bool = field(
        default=True,
        metadata={"help": "Write report.html beside summary.md at the end of a sweep: one self-contained page with "
                          "the table, per-type charts, error classes and the sentences where the rows disagree "
                          "(`tagger report OUTPUT_DIR` writes it for any finished sweep)."},
    )
    report_to: str = field(
        default="auto",
        metadata={"help": "'auto' (TensorBoard if installed, else JSON lines), 'jsonl', 'tensorboard', 'mlflow' "
                          "(MLFLOW_TRACKING_URI, else a store under logs/), 'wandb' (W&B's own environment "
                          "variables) or 'none'; mlflow and wandb need their packages.",
                  "choices": REPORT_TO},
    )
    log_level: str = field(
        default="info",
        metadata={"help": "Console: 'info' (tagger's progress: one line per epoch and per run, and the summary), "
                          "'warning' (what --quiet sets), 'error' or 'debug'; logs/<launch>.log keeps everything.",
                  "choices": tuple(LOG_LEVELS)},
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Publish the best model of the sweep to the Hub."})
    hub_repo_id: str | None = field(
        default=None,
        metadata={"help": "Hub repository for push_to_hub, e.g. 'me/wnut17-minilm-focal'.", "required_if": "push_to_hub"},
    )
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repository as private."})


@dataclass
class RecipeConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    loss: dict[str, Any] = field(default_factory=lambda: {"name": "ce"}, metadata={"help": "The loss: {name: ..., <params>}."})
    sweep: SweepConfig = field(default_factory=SweepConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def sweep_decodings(self) -> list[str]:
        """The decodings the summary shows: ``sweep.decodings``, or ``training.decoding`` alone."""
        return list(self.sweep.decodings) or [self.training.decoding]

    def sweep_entries(self) -> list[dict[str, Any]]:
        """The sweep's losses as written (a `search` mapping included), each with each augmentation, sampling
        method, context size and head: ``sweep.losses`` (else ``loss``) x ``sweep.augment`` (else
        ``data.augment``) x ``sweep.sampling`` (else ``data.sampling``) x ``sweep.context`` (else
        ``data.context``) x ``sweep.heads`` (else ``model.head``)."""
        losses = self.sweep.losses or [self.loss]
        augments = self.sweep.augment or [self.data.augment]
        methods = self.sweep.sampling or [self.data.sampling]
        contexts = self.sweep.context or [self.data.context]
        heads = self.sweep.heads or [self.model.head]
        # a lever that is off stays out of the spec, so `ce` without sampling keeps its label and folder
        return [{**spec, **({"augment": a} if a != AUGMENTATION[0] else {}),
                 **({"sampling": m} if m != "none" else {}), **({"context": c} if c else {}),
                 **({"head": h} if h != HEADS[0] else {})}
                for spec in losses for a in augments for m in methods for c in contexts for h in heads]

    def sweep_contexts(self) -> list[int]:
        """Every context size a run of the sweep trains with (each needs the splits encoded with it)."""
        return sorted({int(split_spec(entry)[1].get("context", 0)) for entry in self.sweep_entries()})

    def sweep_seeds(self) -> list[int]:
        return list(self.sweep.seeds or [self.training.seed])

    def run_specs(self) -> list[tuple[dict[str, Any], int]]:
        """Every (loss spec, seed) pair of the sweep, in the order the runs train
        (:func:`tagger.search.space.sweep_order`); a tuned loss with the values its entry gives (the
        search's choice replaces them: tagger.search.sweep_jobs)."""
        entries = self.sweep_entries()
        return [(split_search(entries[i])[0], seed) for i, seed in sweep_order(len(entries), self.sweep_seeds())]


def help_text() -> str:
    """Every key with its type, default, allowed values and help, for ``recipes/ner.py --help-config``."""
    return typed_help_text(RecipeConfig)

