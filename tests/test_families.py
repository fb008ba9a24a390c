"""Every encoder family users fine-tune, with a tiny random model and a tokenizer of the family's kind.

BERT, ELECTRA and DistilBERT get a WordPiece tokenizer, RoBERTa and ModernBERT a byte-level BPE
one (``add_prefix_space=False``, as ``roberta-base`` and ModernBERT ship it), XLM-RoBERTa and
DeBERTa-v2/v3 a Unigram one behind Metaspace (SentencePiece's scheme); each is trained here on a few
sentences with the ``tokenizers`` package and wrapped in the family's transformers class, and each
model is built from the family's config class (hidden 32, 2 layers), so nothing is downloaded.

For each family: the subwords tagger gives each word are those the word gets in running text; the
recipe trains one step under each head (linear, CRF) and saves a model folder whose tokenizer, read
back by a plain ``AutoTokenizer``, reproduces them; the folder predicts on words and on text (both
pre-tokenizers, library and ``tagger predict``), exports to ONNX with the logits of PyTorch, and
decodes in ``TaggerPipeline`` as ``Tagger.predict_text`` does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from recipe_runner import TEST_DEFAULTS

REPO = Path(__file__).resolve().parents[1]

# the tokenizers' training text; every word of SENTENCES is in it, some split into several subwords
CORPUS = [
    "Jim Henson lived in New York and worked for Sesame Street .",
    "The Muppets were created by Jim Henson in 1955 .",
    "Paul Walker visited Berlin , Germany , with his friends on Monday .",
    "@paulwalk says the Empire State Building is tall !",
    "Angela Merkel met Emmanuel Macron in Paris last week .",
    "Microsoft and Google released new products in California .",
    "She doesn't like U.S. politics or state-of-the-art gadgets .",
    "Caf\u00e9 owners in M\u00fcnchen sold 300 coffees #TBT \U0001F642",
]
# sentences with their IOB2 tags: the recipe's data, and the words the subword test encodes
TAGGED = [
    ("Jim Henson lived in New York", "B-PER I-PER O O B-LOC I-LOC"),
    ("Paul Walker visited Berlin , Germany , with his friends on Monday .", "B-PER I-PER O B-LOC O B-LOC O O O O O O O"),
    ("Angela Merkel met Emmanuel Macron in Paris last week .", "B-PER I-PER O B-PER I-PER O B-LOC O O O"),
    ("Microsoft and Google released new products in California .", "B-ORG O B-ORG O O O O B-LOC O"),
    ("@paulwalk says the Empire State Building is tall !", "O O O B-LOC I-LOC I-LOC O O O"),
    ("She doesn't like U.S. politics or state-of-the-art gadgets .", "O O O B-LOC O O O O O"),
    ("Caf\u00e9 owners in M\u00fcnchen sold 300 coffees #TBT \U0001F642", "O O O B-LOC O O O O O"),
    ("The Muppets were created by Jim Henson in 1955 .", "O B-ORG O O O B-PER I-PER O O O"),
]
SENTENCES = [words.split(" ") for words, _ in TAGGED]
TEXTS = [" ".join(words) for words in SENTENCES]
# a sentence in running text follows other text: the reference encodes each sentence after this one
BEFORE = "It rained ."
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
FAMILIES = ["bert", "roberta", "deberta-v2", "xlm-roberta", "electra", "distilbert", "modernbert"]
BYTE_LEVEL = {"roberta", "modernbert"}
# what use_fast_dropout logs for each family (filled in from a first run)
FAST_DROPOUT: dict[str, str] = {**{f: "attention tagger_sdpa" for f in FAMILIES},
                                 "deberta-v2": "attention eager (kept:"}


# ------------------------------------------------------------------------------------------------ tokenizers


def _wordpiece(cls: type) -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=200, special_tokens=BERT_SPECIALS))
    return cls(vocab=backend.get_vocab(), do_lower_case=True)


def _byte_level_bpe(specials: list[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # as roberta-base ships it
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return backend


def _roberta() -> Any:
    from transformers import RobertaTokenizerFast

    model = json.loads(_byte_level_bpe(ROBERTA_SPECIALS).to_str())["model"]
    return RobertaTokenizerFast(vocab=model["vocab"], merges=[tuple(m) for m in model["merges"]])


def _modernbert() -> Any:
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    backend = _byte_level_bpe(BERT_SPECIALS)
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def _unigram(cls: type, specials: list[str], unk: str) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    backend = Tokenizer(models.Unigram())
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.train_from_iterator(CORPUS, trainers.UnigramTrainer(vocab_size=200, special_tokens=specials, unk_token=unk))
    return cls(vocab=[tuple(piece) for piece in json.loads(backend.to_str())["model"]["vocab"]])


def _tokenizer(family: str) -> Any:
    import transformers as tf

    builders: dict[str, Callable[[], Any]] = {
        "bert": lambda: _wordpiece(tf.BertTokenizerFast),
        "electra": lambda: _wordpiece(tf.ElectraTokenizerFast),
        "distilbert": lambda: _wordpiece(tf.DistilBertTokenizerFast),
        "roberta": _roberta,
        "modernbert": _modernbert,
        "xlm-roberta": lambda: _unigram(tf.XLMRobertaTokenizerFast, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                        "<unk>"),
        "deberta-v2": lambda: _unigram(tf.DebertaV2TokenizerFast, BERT_SPECIALS, "[UNK]"),
    }
    return builders[family]()


# ------------------------------------------------------------------------------------------------ models


def _config(family: str, tok: Any) -> Any:
    """The family's config class at hidden 32, 2 layers, 2 heads, with the tokenizer's vocabulary and pad id."""
    import transformers as tf

    ids = {"vocab_size": len(tok), "pad_token_id": tok.pad_token_id}
    if family == "distilbert":
        return tf.DistilBertConfig(**ids, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128)
    if family == "modernbert":
        return tf.ModernBertConfig(**ids, **SMALL, max_position_embeddings=128, cls_token_id=tok.cls_token_id,
                                   sep_token_id=tok.sep_token_id, bos_token_id=tok.cls_token_id,
                                   eos_token_id=tok.sep_token_id, global_attn_every_n_layers=2, local_attention=16)
    if family == "deberta-v2":  # DeBERTa-v3's layout: relative positions in buckets, no absolute ones
        return tf.DebertaV2Config(**ids, **SMALL, max_position_embeddings=128, relative_attention=True,
                                  position_buckets=16, norm_rel_ebd="layer_norm", share_att_key=True,
                                  pos_att_type=["p2c", "c2p"], position_biased_input=False, max_relative_positions=-1)
    config_class = {"bert": tf.BertConfig, "roberta": tf.RobertaConfig, "xlm-roberta": tf.XLMRobertaConfig,
                    "electra": tf.ElectraConfig}[family]
    extra = {"embedding_size": 32} if family == "electra" else {}
    # RoBERTa's positions start after the pad id: two more than the longest input
    return config_class(**ids, **SMALL, **extra, max_position_embeddings=130)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Any:
    """One torch thread: these models are tiny, and on a shared machine two threads wait on each other at every
    op (7 ms per 32-wide matmul was measured with two)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def encoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """family -> a folder holding a random encoder (no head) and the family's tokenizer, as a Hub encoder comes."""
    import torch
    from transformers import AutoModel

    out = {}
    for family in FAMILIES:
        folder = tmp_path_factory.mktemp(f"encoder-{family}")
        tok = _tokenizer(family)
        torch.manual_seed(0)
        AutoModel.from_config(_config(family, tok)).save_pretrained(folder)
        tok.save_pretrained(folder)
        out[family] = folder
    return out


# ------------------------------------------------------------------------------------------------ references


def running_text_subwords(tok: Any, words: list[str], before: str = BEFORE) -> list[list[str]]:
    """The subwords each word gets inside the space-joined sentence, after ``before`` and a space, read from the
    tokenizer's own encoding of that text with character offsets (a subword belongs to the word its first
    character is in; one that covers no character of a word, a lone marker, to the word after it)."""
    prefix = before + " " if before else ""
    text = prefix + " ".join(words)
    spans, pos = [], len(prefix)
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    out: list[list[str]] = [[] for _ in words]
    for token, (s, e) in zip(tok.convert_ids_to_tokens(enc["input_ids"]), enc["offset_mapping"]):
        inside = [i for i, (ws, we) in enumerate(spans) if ws <= s < we and text[s:e].strip()]
        after = [i for i, (ws, _) in enumerate(spans) if ws >= s]
        word = inside[0] if inside else (after[0] if after and s >= len(prefix) - 1 else None)
        if word is not None:
            out[word].append(token)
    return out


def tagger_subwords(tok: Any, words: list[str]) -> list[list[str]]:
    """The subwords tagger's windows give each word (one window: the sentence is short)."""
    from tagger.data.align import _special_affixes, encode_sentences

    enc = encode_sentences([words], tok, max_length=128, stride=8)
    assert enc["sentence_id"] == [0]
    prefix, suffix = _special_affixes(tok)
    ids, index = enc["input_ids"][0], enc["word_index"][0]
    content = slice(len(prefix), len(ids) - len(suffix))
    out: list[list[str]] = []
    for token, w in zip(tok.convert_ids_to_tokens(ids[content]), index[content]):
        if w >= 0:
            assert w == len(out)
            out.append([])
        out[-1].append(token)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_words_get_their_running_text_subwords(family: str, encoders: dict[str, Path]) -> None:
    from transformers import AutoTokenizer

    from tagger.model_loading import load_tokenizer

    plain = AutoTokenizer.from_pretrained(encoders[family])  # as shipped: the reference's tokenizer
    tok = load_tokenizer(encoders[family])
    for words in SENTENCES:
        ours = tagger_subwords(tok, words)
        assert ours == running_text_subwords(plain, words), words
        # inside the bare sentence every word but the first has the same subwords; a byte-level BPE tokenizer
        # gives the first word its marker too (as after a sentence), the others already mark it
        bare = running_text_subwords(plain, words, before="")
        assert ours[1:] == bare[1:]
        assert (ours[0] != bare[0]) == (family in BYTE_LEVEL and not bare[0][0].startswith("\u0120")), words
    if family in BYTE_LEVEL:  # the defect this fixes: handed alone, words lost their marker
        shipped = plain([SENTENCES[0]], is_split_into_words=True, add_special_tokens=False)
        assert not any(t.startswith("\u0120") for t in plain.convert_ids_to_tokens(shipped["input_ids"][0]))


# ------------------------------------------------------------------------------------------------ the recipe


def _write_conll(path: Path, rows: list[tuple[str, str]]) -> None:
    blocks = ["\n".join(f"{w} {t}" for w, t in zip(words.split(" "), tags.split(" "))) for words, tags in rows]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


_TRAINED: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="module")
def recipe() -> Any:
    from recipe_runner import recipe_module

    return recipe_module()


@pytest.fixture
def trained(family: str, encoders: dict[str, Path], recipe: Any, tmp_path_factory: pytest.TempPathFactory,
            caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """The recipe's sweep for a family (one training step under each head), run once; its summary and log."""
    if family not in _TRAINED:
        data = tmp_path_factory.mktemp(f"data-{family}")
        for split, rows in (("train", TAGGED), ("validation", TAGGED[:4]), ("test", TAGGED[4:])):
            _write_conll(data / f"{split}.conll", rows)
        out = tmp_path_factory.mktemp(f"sweep-{family}")
        overrides = [*TEST_DEFAULTS, f"model.name_or_path={encoders[family]}", f"data.train_file={data / 'train.conll'}",
                     f"data.validation_file={data / 'validation.conll'}", f"data.test_file={data / 'test.conll'}",
                     "data.max_length=64", "data.stride=8", "data.cache=false", "training.epochs=1",
                     "training.max_steps=1", "training.learning_rate=1e-3", "sweep.losses=[{name: ce}]",
                     "sweep.heads=[linear, crf]", "sweep.seeds=[1]", f"output.output_dir={out}",
                     "output.report=false", "output.report_to=none",
                     "training.num_threads=1"]
        with caplog.at_level(logging.DEBUG):  # the fast-dropout line is INFO once per process, then DEBUG
            assert recipe.run(str(REPO / "recipes" / "configs" / "default.yaml"), overrides, "test") == 0
        summary = json.loads((out / "summary.json").read_text())
        _TRAINED[family] = {"out": out, "summary": summary, "log": caplog.text,
                            "models": {run["levers"].get("head", "linear"): out / "runs" / run["run"] / "model"
                                       for run in summary["runs"]}}
    return _TRAINED[family]


@pytest.mark.parametrize("family", FAMILIES)
def test_recipe_trains_each_head_and_saves_running_text_tokenizer(family: str, trained: dict[str, Any],
                                                                  encoders: dict[str, Path]) -> None:
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    assert set(trained["models"]) == {"linear", "crf"}
    initial = load_file(str(encoders[family] / "model.safetensors"))
    plain = AutoTokenizer.from_pretrained(encoders[family])
    for head, folder in trained["models"].items():
        run = json.loads((folder / "tagger_run.json").read_text())
        assert run["hyperparameters"]["head"] == head
        # one optimizer step moved the encoder: its word embeddings differ from the ones it started from
        weights = load_file(str(folder / "model.safetensors"))
        key = next(k for k in initial if k.endswith(("word_embeddings.weight", "tok_embeddings.weight")))
        saved = next(v for k, v in weights.items() if k.endswith(key.split(".", 1)[-1]))
        assert saved.shape == initial[key].shape and not saved.equal(initial[key])
        # a user's own script: AutoTokenizer on the saved folder, words handed as words, gets running-text subwords
        tok = AutoTokenizer.from_pretrained(folder)
        for words in SENTENCES:
            enc = tok([words], is_split_into_words=True, add_special_tokens=False)
            got: list[list[str]] = [[] for _ in words]
            for token, w in zip(tok.convert_ids_to_tokens(enc["input_ids"][0]), enc.word_ids(0)):
                got[w].append(token)
            assert got == running_text_subwords(plain, words), (head, words)
    # fast dropout where the family has nn.Dropout modules, the custom attention where it has SDPA (else it says which)
    lines = [line for line in trained["log"].splitlines() if "fast CPU dropout:" in line]
    assert len(lines) == 2, trained["log"][-2000:]
    assert all(FAST_DROPOUT[family] in line for line in lines), lines


def _entities(found: list[list[dict[str, Any]]]) -> list[list[tuple[str, int, int]]]:
    return [[(e["type"], e["start"], e["end"]) for e in ents] for ents in found]


@pytest.mark.parametrize("family", FAMILIES)
def test_trained_folder_predicts_and_serves(family: str, trained: dict[str, Any], tmp_path: Path) -> None:
    from transformers import pipeline

    from tagger.cli import main as cli
    from tagger.data.align import encode_sentences
    from tagger.data.schemes import entities
    from tagger.integrations.pipeline import TaggerPipeline
    from tagger.predict import Tagger, split_words
    from tagger.runtime import TokenizerFile

    folder = trained["models"]["linear"]
    tagger = Tagger.from_pretrained(folder, device="cpu")
    tags = tagger.predict(SENTENCES)
    assert [len(t) for t in tags] == [len(s) for s in SENTENCES]
    assert sum(t != "O" for row in tags for t in row) > 0  # a random model tags entities: nothing below is vacuous
    # text with the default pre-tokenizer: the entities of the words it splits into, placed on their characters
    split = [split_words(t) for t in TEXTS]
    by_words = [[(typ, offsets[s][0], offsets[e][1]) for typ, s, e in entities(row)]
                for (_, offsets), row in zip(split, tagger.predict([w for w, _ in split]))]
    assert _entities(tagger.predict_text(TEXTS)) == by_words
    by_tokenizer = _entities(tagger.predict_text(TEXTS, pre_tokenizer="tokenizer"))
    assert any(by_tokenizer)

    # tagger predict on text gives the library's entities under each pre-tokenizer
    src = tmp_path / "input.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    for mode, want in (("words", by_words), ("tokenizer", by_tokenizer)):
        out = tmp_path / f"{mode}.jsonl"
        assert cli(["predict", "--model", str(folder), "--input", str(src), "--output", str(out), "--format", "text",
                    "--pre-tokenizer", mode, "--device", "cpu"]) == 0
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert _entities([row["entities"] for row in rows]) == want, mode

    # TaggerPipeline: the entities of Tagger.predict_text with the tokenizer's words
    ner = pipeline("token-classification", model=str(folder), pipeline_class=TaggerPipeline, device="cpu")
    assert [[(e["entity_group"], e["start"], e["end"]) for e in ents] for ents in ner(TEXTS)] == by_tokenizer

    # the ONNX path's tokenizer (tokenizer.json read by tokenizers alone) cuts the same windows
    windows = encode_sentences(SENTENCES, tagger.tokenizer, max_length=tagger.max_length, stride=tagger.stride)
    served = TokenizerFile.from_dir(folder)
    assert encode_sentences(SENTENCES, served, max_length=tagger.max_length, stride=tagger.stride) == windows

    # the CRF head's folder decodes with its CRF
    crf = Tagger.from_pretrained(trained["models"]["crf"], device="cpu")
    assert crf.crf is not None
    assert [len(t) for t in crf.predict(SENTENCES)] == [len(s) for s in SENTENCES]


# torch.onnx's exporter takes 8-15 s a graph here (75 s for the seven families, measured): the default suite
# exports RoBERTa, whose saved tokenizer the running-text setting changes (BERT's graph: tests/test_onnx.py);
# `pytest -m slow tests/test_families.py` exports every family
@pytest.mark.parametrize("family", [f if f == "roberta" else pytest.param(f, marks=pytest.mark.slow) for f in FAMILIES])
def test_onnx_export_has_pytorchs_logits(family: str, trained: dict[str, Any], tmp_path: Path) -> None:
    import torch

    from tagger.data.align import encode_sentences
    from tagger.export import export_onnx
    from tagger.predict import Tagger
    from tagger.train.batching import WindowCollator

    folder = trained["models"]["linear"]
    tagger = Tagger.from_pretrained(folder, device="cpu")
    served = Tagger.from_pretrained(export_onnx(folder, tmp_path / "onnx"))
    windows = encode_sentences(SENTENCES, served.tokenizer, max_length=tagger.max_length, stride=tagger.stride)
    batch = WindowCollator(tagger.tokenizer.pad_token_id)(
        [{"input_ids": ids, "word_index": w, "sentence_id": 0} for ids, w in zip(windows["input_ids"],
                                                                                windows["word_index"])])
    with torch.inference_mode():
        want = tagger.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.numpy()
    got = served.model.logits({k: batch[k].numpy() for k in ("input_ids", "attention_mask")})
    mask = batch["attention_mask"].numpy().astype(bool)  # padded rows: batch of unequal lengths
    assert not mask.all() and np.abs(got - want)[mask].max() < 1e-4
    assert served.predict(SENTENCES) == tagger.predict(SENTENCES)


@pytest.mark.parametrize("family", FAMILIES)
def test_freeze_finds_each_familys_embeddings_and_lowest_layers(family: str, encoders: dict[str, Path]) -> None:
    """model.freeze_layers=1 on the family's model: its word embeddings and its first layer are frozen, its
    second layer and the head train, and nothing else is touched."""
    from transformers import AutoModelForTokenClassification

    from tagger.train.freeze import embedding_modules, encoder_layers, freeze_lower_layers

    model = AutoModelForTokenClassification.from_pretrained(encoders[family], num_labels=3)
    stack = encoder_layers(model)
    assert len(stack) == 2
    frozen_modules = [*embedding_modules(model), stack[0]]
    expected = {id(p) for m in frozen_modules for p in m.parameters()}
    assert freeze_lower_layers(model, 1) == sum(p.numel() for m in frozen_modules for p in m.parameters())
    assert {id(p) for p in model.parameters() if not p.requires_grad} == expected
    assert not model.get_input_embeddings().weight.requires_grad
    assert all(p.requires_grad for p in stack[1].parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
