"""`tagger predict` and the Tagger API on a model folder in the recipe's format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from recipe_runner import Completed, run_cli

from tagger.data.schemes import entities
from tagger.predict import PRE_TOKENIZERS, Tagger, split_words, tokenizer_words

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_encoder_dir) -> Path:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    out = tmp_path_factory.mktemp("model")
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_encoder_dir, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={l: i for i, l in enumerate(LABELS)},
    )
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_encoder_dir).save_pretrained(out)
    (out / "tagger_run.json").write_text(json.dumps({"hyperparameters": {"max_length": 16, "stride": 4}}))
    return out


def cli(*args: str) -> Completed:
    """``tagger args`` in this process (tests/recipe_runner.py): the exit code and output of the command line."""
    return run_cli(Path.cwd(), *args)


def test_split_words_offsets():
    words, offsets = split_words("Mr. O'Neil flew to the U.S. on state-of-the-art jets 🙂!")
    assert words == ["Mr", ".", "O'Neil", "flew", "to", "the", "U.S", ".", "on", "state-of-the-art", "jets", "🙂", "!"]
    text = "Mr. O'Neil flew to the U.S. on state-of-the-art jets 🙂!"
    assert all(text[s:e] == w for w, (s, e) in zip(words, offsets))


def test_tokenizer_words_are_the_pipelines_words(tokenizer):
    """BERT's pre-tokenizer splits at punctuation; what its normalizer drops belongs to no word."""
    text = "don't @paulwalk U.S. I \u2764\ufe0f NY Cafe\u0301 \ufe0f x"
    words, offsets = tokenizer_words(text, tokenizer)
    assert words == ["don", "'", "t", "@", "paulwalk", "U", ".", "S", ".", "I", "\u2764", "NY", "Cafe", "x"]
    assert all(text[s:e] == w for w, (s, e) in zip(words, offsets))
    assert tokenizer_words("", tokenizer) == ([], [])
    assert PRE_TOKENIZERS == ("words", "tokenizer")


def test_every_word_gets_a_tag_even_long_and_empty_words(model_dir):
    tagger = Tagger.from_pretrained(model_dir)
    assert tagger.max_length == 16  # read from tagger_run.json
    long = [f"w{i}" for i in range(300)]
    sents = [long, ["\ufe0f", "a"], [], ["x"]]
    tags = tagger.predict(sents)
    assert [len(t) for t in tags] == [300, 2, 0, 1]
    assert all(t in LABELS for row in tags for t in row)
    # chunked streaming gives the same answer as one call
    tagger.chunk_sentences = 1
    assert list(tagger.predict_stream(sents)) == tags


def test_pre_tokenizer_choice(model_dir):
    text = "Anna met @paulwalk in the U.S. \ufe0f today " + " ".join(f"w{i}" for i in range(60))
    words_mode = Tagger.from_pretrained(model_dir)
    assert words_mode.pre_tokenizer == "words"
    tok_mode = Tagger.from_pretrained(model_dir, pre_tokenizer="tokenizer")
    for tagger in (words_mode, tok_mode):
        for pre in (None, "words", "tokenizer"):
            (ents,) = tagger.predict_text([text], pre_tokenizer=pre)  # 16-subword windows: several per text
            assert all(text[e["start"]:e["end"]] == e["text"] and e["text"] for e in ents)
    # the stored default applies when none is given
    assert tok_mode.predict_text([text]) == tok_mode.predict_text([text], pre_tokenizer="tokenizer")
    assert tok_mode.predict([text]) == words_mode.predict_text([text], pre_tokenizer="tokenizer")
    assert words_mode.predict_text([text]) == words_mode.predict_text([text], pre_tokenizer="words")
    assert words_mode.predict_text(["", " ", "\ufe0f"], pre_tokenizer="tokenizer") == [[], [], []]
    with pytest.raises(ValueError, match="'words', 'tokenizer'"):
        words_mode.predict_text([text], pre_tokenizer="spaces")
    with pytest.raises(ValueError, match="unknown pre-tokenizer 'bert'"):
        Tagger.from_pretrained(model_dir, pre_tokenizer="bert")


def test_predict_cli_pre_tokenizer(tmp_path, model_dir):
    txt = tmp_path / "in.txt"
    txt.write_text("Anna met @paulwalk in the U.S.\nI \u2764\ufe0f NY\n", encoding="utf-8")
    rows = {}
    for pre in ("words", "tokenizer"):
        out = tmp_path / f"{pre}.jsonl"
        proc = cli("predict", "--model", str(model_dir), "--input", str(txt), "--output", str(out), "--pre-tokenizer", pre)
        assert proc.returncode == 0, proc.stderr
        rows[pre] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    tagger = Tagger.from_pretrained(model_dir)
    texts = ["Anna met @paulwalk in the U.S.", "I \u2764\ufe0f NY"]
    for pre, got in rows.items():
        assert [r["entities"] for r in got] == tagger.predict_text(texts, pre_tokenizer=pre)
    bad = cli("predict", "--model", str(model_dir), "--input", str(txt), "--output", str(tmp_path / "o"),
              "--pre-tokenizer", "bert")
    assert bad.returncode == 2 and "choose from" in bad.stderr and "'tokenizer'" in bad.stderr
    conll = tmp_path / "in.conll"
    conll.write_text("Anna\n")
    bad = cli("predict", "--model", str(model_dir), "--input", str(conll), "--output", str(tmp_path / "o"),
              "--pre-tokenizer", "tokenizer")
    assert bad.returncode == 2 and "text input only" in bad.stderr and "Traceback" not in bad.stderr


def test_predict_cli_conll_with_gold_is_scorable(tmp_path, model_dir):
    src = tmp_path / "in.conll"
    src.write_text("John B-PER\nlives O\nin O\nParis B-LOC\n\nHi O\n", encoding="utf-8")
    out = tmp_path / "pred.conll"
    proc = cli("predict", "--model", str(model_dir), "--input", str(src), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    blocks = [b.splitlines() for b in out.read_text().strip().split("\n\n")]
    assert [len(b) for b in blocks] == [4, 1]
    assert [line.split()[:2] for line in blocks[0]] == [["John", "B-PER"], ["lives", "O"], ["in", "O"], ["Paris", "B-LOC"]]
    assert all(len(line.split()) == 3 for b in blocks for line in b)
    score = cli("score", str(out), "--json")
    assert score.returncode == 0, score.stderr
    assert json.loads(score.stdout)["overall"]["gold"] == 2


def test_predict_cli_tokens_only_jsonl_and_text(tmp_path, model_dir):
    src = tmp_path / "in.conll"
    src.write_text("John\nlives\n\nHi\n")
    out = tmp_path / "o.conll"
    assert cli("predict", "--model", str(model_dir), "--input", str(src), "--output", str(out)).returncode == 0
    assert [len(l.split()) for l in out.read_text().splitlines() if l] == [2, 2, 2]

    js = tmp_path / "in.jsonl"
    js.write_text(json.dumps({"id": 7, "tokens": ["Anna", "met", "Bob"]}) + "\n")
    out = tmp_path / "o.jsonl"
    assert cli("predict", "--model", str(model_dir), "--input", str(js), "--output", str(out)).returncode == 0
    row = json.loads(out.read_text())
    assert row["id"] == 7 and len(row["tags"]) == 3
    # word offsets, end exclusive, of the conlleval chunks of the predicted tags
    assert row["entities"] == [{"type": t, "start": s, "end": e + 1} for t, s, e in entities(row["tags"])]

    txt = tmp_path / "in.txt"
    txt.write_text("Anna met Bob in Paris.\nNothing here\n")
    out = tmp_path / "o.jsonl"
    assert cli("predict", "--model", str(model_dir), "--input", str(txt), "--output", str(out)).returncode == 0
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["Anna met Bob in Paris.", "Nothing here"]
    for r in rows:
        for e in r["entities"]:
            assert r["text"][e["start"]:e["end"]] == e["text"]


def test_predict_cli_bad_input_one_line_exit_2(tmp_path, model_dir):
    proc = cli("predict", "--model", str(model_dir), "--input", str(tmp_path / "missing.conll"), "--output", "x")
    assert proc.returncode == 2 and "missing.conll" in proc.stderr and "Traceback" not in proc.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tokens": ["a"]}\n{"tokens": 3}\n')
    proc = cli("predict", "--model", str(model_dir), "--input", str(bad), "--output", str(tmp_path / "o"))
    assert proc.returncode == 2 and "bad.jsonl:2" in proc.stderr
    assert not (tmp_path / "o").exists()  # nothing half-written


@pytest.mark.slow
def test_predict_streams_large_files_with_flat_memory(tmp_path, model_dir):
    """Peak RSS on a 50 MB CoNLL file grows by less than 300 MB over that of a 5 MB file."""
    line = "Reuters B-ORG\nsaid O\non O\nMonday O\nthat O\nthe O\nEuropean B-MISC\nUnion I-MISC\nvoted O\n. O\n\n"

    def rss_for(size_mb: int) -> float:
        src = tmp_path / f"in{size_mb}.conll"
        with open(src, "w") as fh:
            for _ in range(size_mb * 1024 * 1024 // len(line)):
                fh.write(line)
        code = ("import resource, sys; from tagger.cli import main; rc = main(sys.argv[1:]); "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024); sys.exit(rc)")
        proc = subprocess.run([sys.executable, "-c", code, "predict", "--model", str(model_dir), "--input", str(src),
                               "--output", str(tmp_path / "out.conll"), "--batch-tokens", "16384"],
                              capture_output=True, text=True, timeout=3000, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert proc.returncode == 0, proc.stderr[-2000:]
        return float(proc.stdout.strip().splitlines()[-1])

    small, large = rss_for(5), rss_for(50)
    assert large - small < 300, (small, large)


# ------------------------------------------------------------------------------------------ decoding


def test_merged_log_probs_argmax_is_the_merged_labels(model_dir):
    """Long sentences in 16-subword windows: each word's log-probability row comes from the window its
    label comes from, so the argmax of the merged rows is the merged labels, word for word."""
    from tagger.data.align import encode_sentences
    from tagger.train.batching import WindowCollator
    from tagger.train.evaluate import merge_window_log_probs, merge_window_predictions, predict_windows

    tagger = Tagger.from_pretrained(model_dir)
    words = [[f"w{i}x" for i in range(n)] for n in (1, 7, 40, 90)]
    enc = encode_sentences(words, tagger.tokenizer, max_length=16, stride=4)
    rows = [{"input_ids": a, "word_index": w, "sentence_id": s}
            for a, w, s in zip(enc["input_ids"], enc["word_index"], enc["sentence_id"])]
    assert len(rows) > 10  # several windows per long sentence
    windows = predict_windows(tagger.model, [WindowCollator(0)(rows[i:i + 3]) for i in range(0, len(rows), 3)],
                              tagger.device, log_probs=True)
    num_words = [len(w) for w in words]
    ids = merge_window_predictions(num_words, windows)
    lps = merge_window_log_probs(num_words, windows)
    assert [lp.shape for lp in lps] == [(n, len(LABELS)) for n in num_words]
    assert [lp.argmax(axis=1).tolist() for lp in lps] == ids
    assert all(np.allclose(np.exp(lp).sum(axis=1), 1.0) for lp in lps)
    with pytest.raises(ValueError, match="log_probs=True"):
        merge_window_log_probs(num_words, [w[:3] for w in windows])


def test_viterbi_on_model_output_is_well_formed_and_strict_equals_conlleval(model_dir, data_dir):
    """The tiny model's untrained head gives many ill-formed argmax sequences; viterbi none."""
    from tagger.data.conll import read_conll
    from tagger.data.schemes import convert_tags
    from tagger.metrics import score_sequences

    rows = read_conll(data_dir / "wnut17" / "validation.conll")[:60]
    words = [r[0] for r in rows]
    gold = [["O" if t == "O" else t[:2] + ("PER" if "person" in t else "LOC") for t in r[1]] for r in rows]
    arg = Tagger.from_pretrained(model_dir, decoding="argmax").predict(words)
    vit = Tagger.from_pretrained(model_dir, decoding="viterbi").predict(words)

    def ill_formed(tags):
        return sum(t != convert_tags(t, "IOB2", "IOB2") for t in tags)

    assert ill_formed(arg) > 20 and ill_formed(vit) == 0
    strict, conll = score_sequences(gold, vit, "strict"), score_sequences(gold, vit, "conlleval")
    assert (strict["tp"], strict["predicted"], strict["f1"]) == (conll["tp"], conll["predicted"], conll["f1"])


def test_saved_decoding_applies_by_default_and_scores(tmp_path, model_dir):
    import shutil

    from tagger.decoding import Decoder, span_marginal

    folder = tmp_path / "m"
    shutil.copytree(model_dir, folder)
    run = json.loads((folder / "tagger_run.json").read_text())
    run["decoding"] = {"default": "viterbi", "scheme": "IOB2", "o_bias": {"argmax": 1.5, "viterbi": 2.25}}
    (folder / "tagger_run.json").write_text(json.dumps(run))
    plain = Tagger.from_pretrained(model_dir)
    assert (plain.decoding, plain.o_bias) == ("argmax", 0.0)  # no saved decoding: the pipeline's rule
    saved = Tagger.from_pretrained(folder)
    assert (saved.decoding, saved.o_bias, saved.scheme) == ("viterbi", 2.25, "IOB2")
    assert Tagger.from_pretrained(folder, decoding="argmax").o_bias == 1.5  # the bias tuned for that decoding
    assert Tagger.from_pretrained(folder, o_bias=0).o_bias == 0.0
    with pytest.raises(ValueError, match="unknown decoding 'beam'"):
        Tagger.from_pretrained(folder, decoding="beam")

    sents = [["Anna", "met", "Bob", "in", "Paris", "today"], [f"w{i}" for i in range(50)], []]
    log_probs = saved._predict_chunk(sents)
    scored = saved.predict(sents, scores=True)
    assert [s["tags"] for s in scored] == saved.predict(sents)
    assert [s["tags"] for s in scored] == [Decoder(LABELS, "viterbi", o_bias=2.25).tags(lp) for lp in log_probs]
    found = [(i, e) for i, s in enumerate(scored) for e in s["entities"]]
    assert found  # the bias makes the untrained head predict entities
    for i, e in found:
        shifted = log_probs[i].copy()
        shifted[:, 0] -= 2.25  # renormalising each word changes nothing in the chain
        assert e["score"] == pytest.approx(span_marginal(shifted, LABELS, "IOB2", e["type"], e["start"], e["end"] - 1))
    # text: the same entities with a score
    (ents,) = saved.predict_text(["Anna met Bob in Paris today"], scores=True)
    assert [{k: v for k, v in e.items() if k != "score"} for e in ents] == saved.predict_text(["Anna met Bob in Paris today"])[0]
    assert all(0.0 < e["score"] <= 1.0 for e in ents)
    # argmax: the smallest probability of the span's predicted tags, after the bias
    arg = Tagger.from_pretrained(folder, decoding="argmax")
    lp = Decoder(LABELS, "argmax", o_bias=1.5).adjust(arg._predict_chunk(sents[:1])[0])
    (out,) = arg.predict(sents[:1], scores=True)
    for e in out["entities"]:
        ids = lp.argmax(axis=1)[e["start"]:e["end"]]
        assert e["score"] == pytest.approx(float(np.exp(lp[np.arange(e["start"], e["end"]), ids]).min()))


def test_pipeline_class_applies_the_saved_decoding(tmp_path, model_dir):
    """TaggerPipeline on a folder that saved viterbi and an O bias: Tagger.predict_text's entities."""
    import shutil

    from transformers import pipeline

    from tagger.integrations.pipeline import TaggerPipeline

    folder = tmp_path / "m"
    shutil.copytree(model_dir, folder)
    run = json.loads((folder / "tagger_run.json").read_text())
    run["decoding"] = {"default": "viterbi", "scheme": "IOB2", "o_bias": {"viterbi": 2.5}}
    (folder / "tagger_run.json").write_text(json.dumps(run))
    texts = ["Anna met Bob in Paris today", "I \u2764\ufe0f NY and " + " ".join(f"w{i}" for i in range(40))]
    ner = pipeline("token-classification", model=str(folder), pipeline_class=TaggerPipeline, device="cpu")
    ours = [[(e["entity_group"], e["start"], e["end"]) for e in ents] for ents in ner(texts)]
    want = [[(e["type"], e["start"], e["end"]) for e in ents]
            for ents in Tagger.from_pretrained(folder, device="cpu").predict_text(texts, "tokenizer")]
    assert ours == want and any(want)
    plain = Tagger.from_pretrained(folder, device="cpu", decoding="argmax", o_bias=0).predict_text(texts, "tokenizer")
    assert want != [[(e["type"], e["start"], e["end"]) for e in ents] for ents in plain]  # the decoding mattered


def test_predict_cli_decoding_and_scores(tmp_path, model_dir):
    from tagger.commands.predict import DECODINGS as CLI_DECODINGS
    from tagger.decoding import DECODINGS

    assert CLI_DECODINGS == DECODINGS
    js = tmp_path / "in.jsonl"
    js.write_text(json.dumps({"tokens": ["Anna", "met", "Bob", "in", "Paris"]}) + "\n")
    out = tmp_path / "o.jsonl"
    proc = cli("predict", "--model", str(model_dir), "--input", str(js), "--output", str(out), "--scores",
               "--decoding", "viterbi", "--o-bias", "3")
    assert proc.returncode == 0, proc.stderr
    assert "(viterbi, O bias 3)" in proc.stderr
    row = json.loads(out.read_text())
    want = Tagger.from_pretrained(model_dir, decoding="viterbi", o_bias=3.0).predict([row["tokens"]], scores=True)[0]
    assert row["tags"] == want["tags"] and row["entities"] == want["entities"]
    assert row["entities"] and all("score" in e for e in row["entities"])
    conll = tmp_path / "in.conll"
    conll.write_text("Anna\n")
    bad = cli("predict", "--model", str(model_dir), "--input", str(conll), "--output", str(tmp_path / "o"), "--scores")
    assert bad.returncode == 2 and "--scores applies to jsonl and text" in bad.stderr


@pytest.fixture(scope="module")
def context_model_dir(tmp_path_factory, model_dir) -> Path:
    """The tiny model folder saved as if trained with 6 subwords of document context."""
    import shutil

    out = tmp_path_factory.mktemp("context-model") / "model"
    shutil.copytree(model_dir, out)
    (out / "tagger_run.json").write_text(json.dumps({"hyperparameters": {"max_length": 16, "stride": 4, "context": 6}}))
    return out


def test_text_input_is_one_document_per_block_of_lines(tmp_path, context_model_dir, caplog):
    import logging

    lines = ["Ann Lee lives in Oslo", "She likes Bergen", "", "Bob visits Rome", "and Paris too", "", ""]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    done = cli("predict", "--model", str(context_model_dir), "--input", str(tmp_path / "in.txt"),
               "--output", str(tmp_path / "out.jsonl"))
    assert done.returncode == 0, done.stderr
    got = [json.loads(line)["entities"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    tagger = Tagger.from_pretrained(context_model_dir, device="cpu")
    assert tagger.context == 6
    assert got == tagger.predict_text(lines, documents=[1, 1, "b1", 2, 2, "b2", "b3"])
    # the context is used: the words' probabilities differ from each line read alone
    words = [split_words(t)[0] for t in lines]
    with_context, alone = tagger._predict_chunk(words, [1, 1, 2, 3, 3, 4, 5]), tagger._predict_chunk(words)
    assert not np.allclose(with_context[0], alone[0]) and np.allclose(with_context[2], alone[2])
    # without documents the model falls back to each sentence alone, and says so once
    with caplog.at_level(logging.INFO, logger="tagger.predict"):
        assert tagger.predict(words[:2]) == tagger.predict(words[:2], documents=["a", "b"])
        tagger.predict(words[:2])
    said = [r.getMessage() for r in caplog.records if "document context" in r.getMessage()]
    assert said[:1] == [("this model was trained with 6 subwords of document context; without documents each "
                         "sentence is predicted alone (no context)")]


def test_conll_without_docstart_and_jsonl_documents_in_predict(tmp_path, context_model_dir):
    sentences = [["Ann", "Lee", "lives"], ["in", "Oslo"], ["Bob", "ran"]]
    (tmp_path / "plain.conll").write_text("\n\n".join("\n".join(s) for s in sentences) + "\n")
    (tmp_path / "docs.conll").write_text("-DOCSTART-\n\n" + "\n\n".join("\n".join(s) for s in sentences[:2])
                                        + "\n\n-DOCSTART-\n\n" + "\n".join(sentences[2]) + "\n")
    tagger = Tagger.from_pretrained(context_model_dir, device="cpu")
    for name, documents in (("plain.conll", None), ("docs.conll", [0, 0, 1])):
        done = cli("predict", "--model", str(context_model_dir), "--input", str(tmp_path / name),
                   "--output", str(tmp_path / (name + ".out")))
        assert done.returncode == 0, done.stderr
        blocks = [b for b in (tmp_path / (name + ".out")).read_text().split("\n\n") if b.strip()]
        assert [[line.split(" ")[-1] for line in b.splitlines()] for b in blocks] == tagger.predict(
            sentences, documents=documents)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps({"tokens": s, "document_id": d}) + "\n" for s, d in zip(sentences, "aba")))
    done = cli("predict", "--model", str(context_model_dir), "--input", str(bad), "--output", str(tmp_path / "x"))
    assert done.returncode == 2 and f"{bad}:3: document_id 'a' comes back after another document" in done.stderr


def test_the_pipeline_says_it_tags_each_text_alone(context_model_dir, caplog):
    import logging

    from transformers import pipeline

    from tagger.integrations.pipeline import TaggerPipeline

    with caplog.at_level(logging.INFO, logger="tagger.integrations.pipeline"):
        ner = pipeline("token-classification", model=str(context_model_dir), pipeline_class=TaggerPipeline)
    assert any("TaggerPipeline tags each text alone: this model's document context (6 subwords a side) is not used"
               in r.getMessage() for r in caplog.records)
    tagger = Tagger.from_pretrained(context_model_dir, device="cpu", pre_tokenizer="tokenizer")
    text = "Ann Lee lives in Oslo"
    assert [(e["entity_group"], e["start"], e["end"]) for e in ner(text)] == [
        (e["type"], e["start"], e["end"]) for e in tagger.predict_text([text])[0]]
