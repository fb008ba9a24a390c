"""tagger finds exactly the entities of ``pipeline("token-classification", aggregation_strategy="first")``.

A small model trained by the recipe on WNUT-17 (tiny random BERT with the packaged MiniLM tokenizer)
is loaded both ways; entities are compared as (type, char start, char end) on the 1,287 WNUT-17 test
sentences, each sentence's text being its data words joined by single spaces.

Both sides decode as the pipeline does: each word its most probable label, without an O bias
(``decoding="argmax", o_bias=0``; the recipe's model folder names viterbi and a tuned bias, which
``Tagger`` would otherwise apply, see docs/decoding.md).

Text mode, all 1,287 sentences, exact: the pipeline on the text against
``Tagger.predict_text(texts, pre_tokenizer="tokenizer")`` and ``tagger predict --format text
--pre-tokenizer tokenizer``. That pre-tokenizer takes the pipeline's words: the tokenizer's own
encoding of the text (offsets into the original string), a new word at every subword that the
pipeline does not take for a continuation (a WordPiece ``##`` piece, whose token string and covered
text differ in length). So ``@paulwalk`` is ``@`` + ``paulwalk`` and ``don't`` is ``don`` + ``'`` + ``t``
on both sides, and text that the tokenizer drops (the 3 emoji variation selectors, U+FE0F) is part of
neither side's model input. The test also checks that the model input is the pipeline's
(``tokenizer(text, truncation=True)``) for every sentence.

Word mode, 749 sentences, exact: the pipeline fed the data's words (``is_split_into_words=True``)
against ``Tagger.predict(words)``. Here the two disagree about what a word is wherever the tokenizer's
pre-tokenizer splits a data word (BERT splits at every punctuation mark: ``@paulwalk``, ``don't``,
``#TBT``, ``U.S.``): the pipeline predicts each piece from its own, never trained, first subword,
tagger the data word from its first subword only. 611 words in 536 sentences are like that, and 3
words (U+FE0F) have no subword at all (tagger reads them as the unknown token, the pipeline cannot
see them; one of these sentences also has a split word): 538 sentences, which are excluded; the
other 749 (every data word is exactly one pipeline word whose pieces cover the whole word) must agree.

Grouping words into entities (``TokenClassificationPipeline.group_entities``, read in transformers
5.24): a word joins the previous group when its type (the label without ``B-``/``I-``) is the same
and it is not ``B-``; ``O`` words form groups that are dropped. On IOB2 labels this is exactly
conlleval chunking (seqeval's default reader, :func:`tagger.data.schemes.entities`): ``I-X`` after
``O`` or after another type starts an entity, ``B-X I-Y`` is two entities, ``B-X B-X`` two,
``I-X I-X`` one; :func:`test_pipeline_grouping_is_conlleval_chunking_on_iob2` checks all 2,801
sequences of up to 4 words over three types (one with a dash, ``creative-work``). The pipeline does
not know IOBES/BILOU: it reads ``E-X``/``S-X`` as types of their own and never closes a chunk at them
(``B-X E-X`` is two entities, ``S-X S-X`` one), so tagger (which chunks them like conlleval) and the
pipeline agree only for IOB2 models, the recipe's default scheme; this model is IOB2.

Tokenizers without a continuation prefix (byte-level BPE as in GPT-2/RoBERTa, Unigram with
Metaspace as in XLM-R): the pipeline falls back to a heuristic (a subword not at the start and not
next to a space continues the word), which ``encode_like_pipeline`` follows too; checked on 300
sentences with a tokenizer of each kind trained here (the full 1,287 agree as well, measured once).

Entity offsets: the pipeline's entity runs from its first word's first subword start to its last
word's last subword end; tagger's word offsets are built the same way, so accents or zero-width
characters that the normalizer drops at a word's edge are outside the entity on both sides.

Windows: the pipeline truncates at the tokenizer's 512 subwords; tagger windows at its training
length (64 here, 128 for the recipe's default). The comparison loads the Tagger with
``max_length=512``; no test sentence is longer than 510 subwords (the longest text has 189 without
special tokens), so the truncation never matters.

Measured with this model (the recipe's settings below, trained outside the test): text mode 19,591
entities, 4,559 of several words, on all 1,287 sentences; word mode 9,478 entities, 2,813 of several
words, on the 749 sentences.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest
from recipe_runner import run_cli, run_recipe

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import _bench_common as common  # noqa: E402

N_TEST = 1287  # WNUT-17 test sentences
EXPECTED_CLEAN = 749  # of them, those in which every data word is one pipeline word


@pytest.fixture(scope="session")
def parity_model(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: str, data_dir: Path) -> str:
    """The tiny random BERT trained by the recipe on 200 sentences; class-weighted CE so that it predicts entities."""
    out = tmp_path_factory.mktemp("parity")
    args = [
        f"model.name_or_path={tiny_encoder_dir}", "data.name=wnut17", f"data.data_dir={data_dir}",
        "data.max_train_sentences=200", "data.max_eval_sentences=16", "data.max_length=64", "data.stride=16",
        "training.epochs=3", "training.learning_rate=1e-3", "training.warmup_ratio=0", "training.checkpointing='no'",
        "training.max_tokens_per_batch=1024", "loss.name=ce", "loss.class_weights=inverse_frequency",
        "sweep.losses=[]", "sweep.seeds=[]", f"output.output_dir={out}", "output.report_to=none",
    ]
    proc = run_recipe(args, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return str(next((out / "runs").glob("*/model")))


@pytest.fixture(scope="session")
def test_words(data_dir: Path) -> list[list[str]]:
    words = [w for w, _ in common.read_conll(data_dir / "wnut17" / "test.conll")]
    assert len(words) == N_TEST
    return words


def _not_vacuous(texts: list[str], entities: list[list[tuple[str, int, int]]]) -> None:
    """The pipeline finds entities, several of them longer than one word."""
    found = [(i, s, e) for i, ents in enumerate(entities) for _, s, e in ents]
    assert len(found) >= 50, f"the tiny model predicts too few entities ({len(found)}) for a meaningful comparison"
    assert sum(" " in texts[i][s:e] for i, s, e in found) >= 5


def test_pipeline_grouping_is_conlleval_chunking_on_iob2() -> None:
    """``group_entities`` of the pipeline and conlleval chunking agree on every IOB2 sequence of up to 4 words."""
    from transformers.pipelines.token_classification import TokenClassificationPipeline

    from tagger.data.schemes import entities

    class Tok:
        def convert_tokens_to_string(self, tokens: list[str]) -> str:
            return " ".join(tokens)

    pipe = object.__new__(TokenClassificationPipeline)  # only the grouping methods are used
    pipe.tokenizer = Tok()

    def grouped(tags: tuple[str, ...]) -> list[tuple[str, int, int]]:
        words = [{"entity": t, "score": 1.0, "word": "w", "start": i, "end": i + 1} for i, t in enumerate(tags)]
        groups = pipe.group_entities(words) if words else []
        return [(g["entity_group"], g["start"], g["end"] - 1) for g in groups if g["entity_group"] != "O"]

    labels = ["O", "B-A", "I-A", "B-B", "I-B", "B-creative-work", "I-creative-work"]
    for length in range(5):
        for tags in itertools.product(labels, repeat=length):
            assert grouped(tags) == entities(tags), tags
    # IOBES / BILOU: the pipeline does not close chunks at E-/S-/L-/U- (documented above)
    assert grouped(("B-A", "E-A")) == [("A", 0, 0), ("A", 1, 1)] != entities(["B-A", "E-A"])
    assert grouped(("S-A", "S-A")) == [("A", 0, 1)] != entities(["S-A", "S-A"])


def test_text_entities_equal_pipeline_entities_on_every_sentence(parity_model: str, test_words: list[list[str]],
                                                                  tmp_path: Path) -> None:
    from tagger.data.align import encode_subwords
    from tagger.predict import Tagger, encode_like_pipeline

    texts = [" ".join(ws) for ws in test_words]
    # the pipeline's decoding: each word its most probable label, no O bias (the recipe saved viterbi and a bias)
    tagger = Tagger.from_pretrained(parity_model, device="cpu", max_length=512, decoding="argmax", o_bias=0)
    tok = tagger.tokenizer

    # the model input is the pipeline's: its own tokenization of the text, special tokens around it
    encs = encode_like_pipeline(texts, tok)
    windows = encode_subwords([e.subword_ids for e in encs], [e.word_ids for e in encs], [len(e.offsets) for e in encs],
                              tok, max_length=512, stride=32)
    assert windows["sentence_id"] == list(range(N_TEST))  # one window each: nothing is cut
    assert windows["input_ids"] == tok(texts, truncation=True)["input_ids"]
    assert max(len(x) for x in windows["input_ids"]) <= tok.model_max_length
    # 3 sentences hold U+FE0F, which tokenizes to nothing: no word, no subword on either side
    assert sum("\ufe0f" in t for t in texts) == 3

    theirs = common.run_pipeline_on_text(parity_model, texts, batch_size=32)
    _not_vacuous(texts, theirs)
    predicted = tagger.predict_text(texts, pre_tokenizer="tokenizer")
    ours = [[(e["type"], e["start"], e["end"]) for e in ents] for ents in predicted]
    mismatches = [(i, texts[i], ours[i], theirs[i]) for i in range(N_TEST) if ours[i] != theirs[i]]
    assert not mismatches, f"{len(mismatches)} of {N_TEST} sentences differ, first: {mismatches[0]}"

    # the same through the command line, on all sentences
    src = tmp_path / "wnut17-test.txt"
    src.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    out = tmp_path / "entities.jsonl"
    proc = run_cli(tmp_path, "predict", "--model", parity_model, "--input", str(src), "--output", str(out),
                   "--format", "text", "--pre-tokenizer", "tokenizer", "--max-length", "512", "--device", "cpu",
                   "--decoding", "argmax", "--o-bias", "0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == texts
    cli = [[(e["type"], e["start"], e["end"]) for e in r["entities"]] for r in rows]
    assert cli == theirs


@pytest.mark.filterwarnings("ignore:Tokenizer does not support real words")  # the pipeline's, expected here
@pytest.mark.parametrize("kind", ["bytelevel-bpe", "unigram-metaspace"])
def test_text_entities_equal_pipeline_entities_without_continuation_prefix(
    kind: str, data_dir: Path, test_words: list[list[str]], tmp_path: Path
) -> None:
    """Tokenizers without ``##`` (GPT-2/RoBERTa byte-level BPE, XLM-R-like Unigram): the pipeline's fallback words.

    A tokenizer trained here on WNUT-17 train and a random 1-layer classifier (it predicts entities
    everywhere, which is what the comparison needs); the first 300 test sentences.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForTokenClassification, PreTrainedTokenizerFast

    from tagger.data.running_text import words_as_in_running_text
    from tagger.predict import Tagger

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    if kind == "bytelevel-bpe":
        backend = Tokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        backend = Tokenizer(models.Unigram())
        backend.normalizer = normalizers.NFKC()
        backend.pre_tokenizer = pre_tokenizers.Metaspace()
        backend.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=2000, special_tokens=specials, unk_token="<unk>")
    train = [" ".join(w) for w, _ in common.read_conll(data_dir / "wnut17" / "train.conll")]
    backend.train_from_iterator(train, trainer)
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", backend.token_to_id("<s>")), ("</s>", backend.token_to_id("</s>"))])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                  unk_token="<unk>", model_max_length=512)
    words_as_in_running_text(tok)  # as tagger saves a model folder: the stock pipeline reads the same setting
    assert not getattr(tok.backend_tokenizer.model, "continuing_subword_prefix", None)
    labels = ["O", "B-person", "I-person", "B-location", "I-location", "B-group", "I-group"]
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=len(labels), id2label=dict(enumerate(labels)),
                        label2id={label: i for i, label in enumerate(labels)})
    BertForTokenClassification(config).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)

    texts = [" ".join(ws) for ws in test_words[:300]]
    theirs = common.run_pipeline_on_text(str(tmp_path), texts, batch_size=32)
    _not_vacuous(texts, theirs)
    tagger = Tagger.from_pretrained(tmp_path, device="cpu", max_length=512, pre_tokenizer="tokenizer")
    ours = [[(e["type"], e["start"], e["end"]) for e in ents] for ents in tagger.predict_text(texts)]
    mismatches = [(i, texts[i], ours[i], theirs[i]) for i in range(len(texts)) if ours[i] != theirs[i]]
    assert not mismatches, f"{len(mismatches)} of {len(texts)} sentences differ, first: {mismatches[0]}"


def test_word_lists_equal_pipeline_entities_where_words_agree(parity_model: str, test_words: list[list[str]]) -> None:
    from tagger.predict import Tagger

    words = test_words
    tagger = Tagger.from_pretrained(parity_model, device="cpu", max_length=512, decoding="argmax", o_bias=0)
    ours = [common.word_entities_to_chars(ws, tags) for ws, tags in zip(words, tagger.predict(words))]
    theirs = common.run_pipeline(parity_model, words, batch_size=32)

    tok = tagger.tokenizer
    clean, rest = [], []
    for i, ws in enumerate(words):
        info = common.pipeline_words(tok, ws)
        (clean if info["one_word_each"] and info["pieces"] <= tok.model_max_length - 2 else rest).append(i)
    assert len(clean) == EXPECTED_CLEAN, "the tokenizer or the data changed: recount and update the docstring"
    assert len(rest) == N_TEST - EXPECTED_CLEAN

    _not_vacuous([" ".join(words[i]) for i in clean], [theirs[i] for i in clean])
    mismatches = [(i, words[i], ours[i], theirs[i]) for i in clean if ours[i] != theirs[i]]
    assert not mismatches, f"{len(mismatches)} sentences differ, first: {mismatches[0]}"
