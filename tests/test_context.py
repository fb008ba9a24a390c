"""Document context (data.context): what a window holds, that context carries no label, no word and no score,
never crosses a document boundary, and leaves the windows of long sentences alone; augmented and
oversampled sentences keep the context of the sentence they came from."""

from __future__ import annotations

import random

import pytest

from tagger.data.align import IGNORE, encode_sentences, words_from_windows
from tagger.data.documents import context_sizes, document_chunks, neighbour_subwords, number_documents
from tagger.errors import InputError

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def _ids(tokenizer, words: list[str]) -> list[int]:
    ids = tokenizer.convert_tokens_to_ids(words)
    assert all(len(tokenizer.tokenize(w)) == 1 for w in words)  # one subword each: the counts below are by hand
    return ids


def test_a_hand_built_two_document_example(tokenizer):
    """Two documents, window content 8 (max_length 10 less [CLS] and [SEP]), context 3 a side; every row
    below is counted by hand from the rules (a side takes what its neighbours offer, the room shared evenly)."""
    sents = [["the", "cat"], ["sat", "on", "a", "mat"], ["and", "ran"],  # document 0
             ["dog"], ["went", "home"]]  # document 1
    tags = [[1, 2], [0, 0, 0, 3], [0, 0], [1], [0, 3]]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    the, cat, sat, on, a, mat, and_, ran, dog, went, home = _ids(
        tokenizer, ["the", "cat", "sat", "on", "a", "mat", "and", "ran", "dog", "went", "home"])
    enc = encode_sentences(sents, tokenizer, tag_ids=tags, max_length=10, stride=2, documents=[0, 0, 0, 1, 1],
                           context=3)
    assert enc["input_ids"] == [
        [cls, the, cat, sat, on, a, sep],  # room 6: nothing on the left, the next 3 subwords on the right
        [cls, the, cat, sat, on, a, mat, and_, ran, sep],  # room 4: both neighbours whole (2 + 2)
        [cls, on, a, mat, and_, ran, sep],  # room 6: the last 3 subwords before it; the document ends after it
        [cls, dog, went, home, sep],  # document 1 starts: nothing from document 0
        [cls, dog, went, home, sep],
    ]
    x = IGNORE
    assert enc["labels"] == [
        [x, 1, 2, x, x, x, x],
        [x, x, x, 0, 0, 0, 3, x, x, x],
        [x, x, x, x, 0, 0, x],
        [x, 1, x, x, x],
        [x, x, 0, 3, x],
    ]
    assert enc["word_index"] == [
        [-1, 0, 1, -1, -1, -1, -1],
        [-1, -1, -1, 0, 1, 2, 3, -1, -1, -1],
        [-1, -1, -1, -1, 0, 1, -1],
        [-1, 0, -1, -1, -1],
        [-1, -1, 0, 1, -1],
    ]
    assert enc["context"] == [(0, 3), (2, 2), (3, 0), (0, 2), (1, 0)]
    assert enc["sentence_id"] == [0, 1, 2, 3, 4]
    # without documents (or with context 0) the windows are the sentences alone
    alone = encode_sentences(sents, tokenizer, tag_ids=tags, max_length=10, stride=2)
    assert alone == encode_sentences(sents, tokenizer, tag_ids=tags, max_length=10, stride=2,
                                     documents=[0, 0, 0, 1, 1], context=0)
    assert alone["input_ids"][3] == [cls, dog, sep] and alone["context"] == [(0, 0)] * 5


def test_context_carries_no_label_even_when_every_subword_is_labelled(tokenizer):
    sents = [["unaffable", "Paris"], ["Smith", "unaffable"]]
    enc = encode_sentences(sents, tokenizer, tag_ids=[[3, 4], [1, 0]], max_length=16, stride=2, documents=[0, 0],
                           context=8, label_all_subwords=True, label_list=LABELS)
    # sentence 0 = una ##ffa ##ble paris, then its right context smith una ##ffa ##ble
    assert enc["context"][0] == (0, 4) and enc["labels"][0] == [IGNORE, 3, 4, 4, 4] + [IGNORE] * 5
    assert enc["context"][1] == (4, 0) and enc["labels"][1] == [IGNORE] * 5 + [1, 0, 0, 0, IGNORE]


def _document_streams(all_ids, documents):
    """The concatenated subwords of each document, and where each sentence starts in its document's stream."""
    streams: dict[int, list[int]] = {}
    starts = []
    for ids, doc in zip(all_ids, documents):
        stream = streams.setdefault(doc, [])
        starts.append(len(stream))
        stream += ids
    return streams, starts


@pytest.mark.parametrize("context", [1, 5, 40])
def test_context_is_a_slice_of_the_own_document_and_never_crosses_a_boundary(tokenizer, context):
    """Brute force: every window, less its special tokens, is a contiguous slice of its document's subwords
    around the window's own, and the context sides agree with what the neighbours offer."""
    rng = random.Random(context)
    vocab = ["the", "cat", "unaffable", "Paris", "sat", "Zürich", "on", "a", "mat", "dog"]
    sents = [[rng.choice(vocab) for _ in range(rng.randint(1, 14))] for _ in range(40)]
    documents = number_documents([rng.choice([None, 0, 0, 0]) if k % 7 else None for k in range(40)])
    enc = encode_sentences(sents, tokenizer, max_length=16, stride=4, documents=documents, context=context)
    own = tokenizer(sents, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    streams, starts = _document_streams(own, documents)
    seen_context = 0
    for ids, windex, sid, (left, right) in zip(enc["input_ids"], enc["word_index"], enc["sentence_id"],
                                               enc["context"]):
        body = ids[1:-1]
        stream, start = streams[documents[sid]], starts[sid]
        # where the window's own subwords start: find the slice of the document stream it is
        offset = start - left + next(k for k in range(len(own[sid]) + 1)
                                     if body[left:len(body) - right] == own[sid][k:k + len(body) - left - right])
        assert body == stream[offset:offset + len(body)]
        assert offset >= start - context and offset + len(body) <= start + len(own[sid]) + context
        assert left <= context and right <= context
        assert all(w == -1 for w in windex[1:1 + left]) and all(w == -1 for w in windex[len(windex) - 1 - right:])
        seen_context += left + right
    assert seen_context > 0
    # every word still gets exactly one prediction
    words_from_windows([len(s) for s in sents], enc["sentence_id"], enc["word_index"], enc["word_index"])


def test_windows_of_a_long_sentence_take_no_context_and_keep_their_owners(tokenizer):
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "the", "dog", "ran", "to", "it", "so", "we", "all", "went",
             "home", "at", "ten", "pm"]
    short = ["a", "dog"]
    sents = [short, words, words[:7], short]
    plain = encode_sentences(sents, tokenizer, max_length=10, stride=4)
    ctx = encode_sentences(sents, tokenizer, max_length=10, stride=4, documents=[0, 0, 0, 0], context=4)
    long_rows = [k for k, sid in enumerate(ctx["sentence_id"]) if sid == 1]
    assert len(long_rows) == 4  # starts 0, 4, 8, 12 of content 8: every window full
    for k in long_rows:
        assert ctx["input_ids"][k] == plain["input_ids"][k] and ctx["word_index"][k] == plain["word_index"][k]
        assert ctx["context"][k] == (0, 0)
    # the 7-subword sentence after it has room for one: the left side takes it (the odd one goes left)
    (k7,) = [k for k, sid in enumerate(ctx["sentence_id"]) if sid == 2]
    assert ctx["context"][k7] == (1, 0)
    assert ctx["input_ids"][k7][1] == tokenizer.convert_tokens_to_ids("pm")
    (k0,) = [k for k, sid in enumerate(ctx["sentence_id"]) if sid == 0]
    assert ctx["context"][k0] == (0, 4) and len(ctx["input_ids"][k0]) == 2 + 2 + 4


def test_neighbours_and_sizes_by_hand():
    subwords = [[1, 2], [3], [4, 5, 6], [7], [8, 9]]
    left, right = neighbour_subwords(subwords, [0, 0, 0, 1, 1], 2)
    assert left == [[], [1, 2], [2, 3], [], [7]]
    assert right == [[3, 4], [4, 5], [], [8, 9], []]
    assert neighbour_subwords(subwords, [0, 0, 0, 1, 1], 0) == ([[]] * 5, [[]] * 5)
    assert [context_sizes(r, 3, 3) for r in (0, 1, 2, 5, 6, 9)] == [(0, 0), (1, 0), (1, 1), (3, 2), (3, 3), (3, 3)]
    assert number_documents([None, None, 4, 4, 5, None]) == [0, 1, 2, 2, 3, 4]


def test_document_chunks_end_with_documents_and_refuse_a_document_that_comes_back():
    chunks = list(document_chunks("abcdefg", ["x", "x", "y", "y", "y", "z", "w"], 2))
    assert [("".join(c), n) for c, n in chunks] == [("ab", [0, 0]), ("cde", [1, 1, 1]), ("fg", [2, 3])]
    assert [c for c, _ in document_chunks("abc", None, 2)] == [["a", "b"], ["c"]]
    with pytest.raises(InputError, match=r"document_id 'x' comes back .* sentence 1, this is sentence 3"):
        list(document_chunks("abc", ["x", "y", "x"], 10))
    with pytest.raises(ValueError, match="one document id per sentence"):
        list(document_chunks("abc", ["x"], 10))


# ------------------------------------------------------------------------------------------ augment, sampling


def _split(tokenizer, context: int):
    from tagger.train.features import COLUMNS, SplitFeatures

    tokens = [["Ann", "sat"], ["in", "Paris", "today"], ["Bob", "ran"], ["to", "Rome"], ["alone"]]
    tags = [["B-PER", "O"], ["O", "B-LOC", "O"], ["B-PER", "O"], ["O", "B-LOC"], ["O"]]
    documents = [0, 0, 0, 1, 1]
    ids = [[LABELS.index(t) for t in row] for row in tags]
    cols = encode_sentences(tokens, tokenizer, tag_ids=ids, max_length=16, stride=2, documents=documents,
                            context=context)
    return SplitFeatures(name="train", columns={k: cols[k] for k in COLUMNS}, num_words=[len(t) for t in tokens],
                         tokens=tokens, gold_tags=tags, documents=documents)


def test_an_augmented_copy_takes_its_source_sentences_context(tokenizer):
    from tagger.train.features import extend_split

    split = _split(tokenizer, context=4)
    # a copy identical to sentence 1 gets sentence 1's windows; a changed copy of sentence 3 gets sentence 3's
    # neighbours (document 1: "alone" on the right, nothing of document 0 on the left)
    extended = extend_split(split, [["in", "Paris", "today"], ["to", "Oslo"]], [["O", "B-LOC", "O"], ["O", "B-LOC"]],
                            tokenizer, label_list=LABELS, max_length=16, stride=2, label_all_subwords=False,
                            context=4, sources=[1, 3])
    cols = extended.columns
    assert cols["sentence_id"][5:] == [5, 6]
    for key in ("input_ids", "labels", "word_index", "context"):
        assert cols[key][5] == cols[key][1]
    oslo, to, alone = tokenizer.convert_tokens_to_ids(["oslo", "to", "alone"])
    assert cols["input_ids"][6] == [tokenizer.cls_token_id, to, oslo, alone, tokenizer.sep_token_id]
    assert cols["context"][6] == (0, 1)
    # each new sentence is a document of its own afterwards
    assert extended.documents == [0, 0, 0, 1, 1, 2, 3]
    # without context the copies are encoded alone
    plain = extend_split(_split(tokenizer, 0), [["to", "Oslo"]], [["O", "B-LOC"]], tokenizer, label_list=LABELS,
                         max_length=16, stride=2, label_all_subwords=False, sources=[3])
    assert plain.columns["input_ids"][-1] == [tokenizer.cls_token_id, to, oslo, tokenizer.sep_token_id]


def test_augmentation_and_oversampling_keep_context(tokenizer):
    from tagger.train.augment import augment_split
    from tagger.train.sampling import resample

    split = _split(tokenizer, context=4)
    augmented, report = augment_split(split, "mention_replacement", 1, tokenizer, label_list=LABELS, scheme="IOB2",
                                      max_length=16, stride=2, label_all_subwords=False, types=["LOC"], copies=1,
                                      rate=1.0, context=4)
    assert report.sentences_added == 2
    # mention replacement swaps Paris and Rome: the copies of sentences 1 and 3, each between its source's neighbours
    for k, source in ((5, 1), (6, 3)):
        assert augmented.columns["context"][k] == split.columns["context"][source]
        assert [w for w in augmented.columns["word_index"][k] if w >= 0] == [0, 1, 2][:len(split.tokens[source])]
    sampled, _ = resample(augmented, "oversample_rare", 1, rare_share=0.5)
    by_sentence = {}
    for sid, ids, ctx in zip(sampled.columns["sentence_id"], sampled.columns["input_ids"], sampled.columns["context"]):
        by_sentence.setdefault(sid, set()).add((tuple(ids), ctx))
    assert len(sampled) > len(augmented)  # repeats
    assert all(len(v) == 1 for v in by_sentence.values())  # a repeat is the same window, context included
    assert sampled.documents == augmented.documents


def test_the_context_report_counts_and_names_a_no_op(tokenizer):
    from tagger.train.context import context_report

    report = context_report(_split(tokenizer, context=4), 4)
    assert report.windows == report.windows_with_context == 5 and report.documents == 2
    assert report.context_subwords == sum(a + b for a, b in _split(tokenizer, 4).columns["context"]) > 0
    assert not report.no_op
    alone = _split(tokenizer, 4)
    alone.documents = [0, 1, 2, 3, 4]
    alone.columns["context"] = [(0, 0)] * 5
    assert context_report(alone, 4).note == ("context=4: no-op, no document holds two sentences: every sentence is "
                                             "a document of its own (no -DOCSTART- lines or document_id)")


# ------------------------------------------------------------------------------------------ config, the recipe


def test_the_context_axis_labels_runs_and_folders():
    from tagger.config import help_text, load_config
    from tagger.errors import ConfigError
    from tagger.losses.labels import loss_label, split_spec
    from tagger.run_files import run_folder_name

    cfg = load_config(None, ["sweep.losses=[{name: ce}]", "sweep.seeds=[1]", "sweep.context=[0, 64]",
                             "sweep.heads=[linear, crf]"])
    assert [loss_label(spec) for spec, _ in cfg.run_specs()] == ["ce", "ce + crf", "ce + context=64",
                                                                 "ce + context=64 + crf"]
    assert run_folder_name(cfg.run_specs()[2][0], 1) == "ce_context=64-seed1"
    assert cfg.sweep_contexts() == [0, 64]
    assert load_config(None, ["data.context=32"]).run_specs() == [({"name": "ce", "context": 32}, 1)]
    assert load_config(None).run_specs() == [({"name": "ce"}, 1)] and load_config(None).data.context == 0
    assert split_spec({"name": "ce", "context": 0}) == ({}, {})
    for override, message in [("data.context=-1", r"data.context: must be >= 0"),
                              ("sweep.context=[8, 8]", r"sweep.context: items 0 and 1 are the same"),
                              ("sweep.losses=[{name: ce, context: wide}]",
                               r"sweep.losses\[0\].context: 'wide' is not a number of subwords")]:
        with pytest.raises(ConfigError, match=message):
            load_config(None, [override])
    assert "data.context (int, default 0)" in help_text()


def _conll_with_documents(path, sentences, documents) -> None:
    lines = []
    for k, (words, doc) in enumerate(zip(sentences, documents)):
        if k == 0 or doc != documents[k - 1]:
            lines += ["-DOCSTART- -X- -X- O", ""]
        lines += [f"{w} NN O" for w in words] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_recipe_trains_with_context_and_predict_with_documents_equals_evaluation(tmp_path, tiny_encoder_dir,
                                                                                data_dir):
    """data.context on CoNLL-2003 (which keeps its -DOCSTART- documents): the run records what context it
    took, saves the setting with the model, and Tagger, `tagger predict` (CoNLL with -DOCSTART-, JSON lines
    with document_id) given the documents tag the test split exactly as the recipe's evaluation did."""
    import json

    from recipe_runner import run_cli, run_recipe, tiny_args

    from tagger.data import load_ner_dataset
    from tagger.predict import Tagger

    out = tmp_path / "out"
    # fp32, as Tagger predicts: under bf16 the near-ties of a tiny random model could break differently
    proc = run_recipe(tiny_args(tiny_encoder_dir, data_dir, out, "data.name=conll2003", "data.context=12",
                                "training.epochs=1", "training.mixed_precision=no", "output.report=false"), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = out / "runs" / "ce_context=12-seed1"
    result = json.loads((run_dir / "all_results.json").read_text())
    assert result["label"] == "ce + context=12" and result["levers"] == {"context": 12}
    report = result["context"]
    assert report["method"] == "context=12" and report["no_op"] is None
    assert 0 < report["windows_with_context"] < report["windows"] and report["sentences"] == 64
    assert report["context_subwords"] > 0
    info = json.loads((run_dir / "model" / "tagger_run.json").read_text())
    assert info["hyperparameters"]["context"] == 12 and "data.context=12" in (run_dir / "model" / "README.md").read_text()

    test = load_ner_dataset("conll2003", data_dir=str(data_dir)).splits["test"].select(range(48))
    sentences, documents = [list(t) for t in test["tokens"]], list(test["document_id"])
    assert len(set(documents)) < len(documents)  # documents of several sentences: context is in play
    blocks = [b for b in (run_dir / "test_predictions.conll").read_text().split("\n\n") if b.strip()]
    evaluated = [[line.split(" ")[2] for line in b.splitlines()] for b in blocks]
    tagger = Tagger.from_pretrained(run_dir / "model", device="cpu", o_bias=0)  # test_predictions: no O bias
    assert tagger.context == 12
    assert tagger.predict(sentences, documents=documents) == evaluated
    with_context = tagger._predict_chunk(sentences, documents)
    alone = tagger._predict_chunk(sentences)
    assert any(a.shape == b.shape and not (a == b).all() for a, b in zip(with_context, alone))

    conll = tmp_path / "test48.conll"
    _conll_with_documents(conll, sentences, documents)
    done = run_cli(tmp_path, "predict", "--model", str(run_dir / "model"), "--input", str(conll),
                   "--output", str(tmp_path / "pred.conll"), "--o-bias", "0")
    assert done.returncode == 0, done.stderr
    pred = [b for b in (tmp_path / "pred.conll").read_text().split("\n\n") if b.strip()]
    assert [[line.split(" ")[-1] for line in b.splitlines()] for b in pred] == evaluated

    jsonl = tmp_path / "test48.jsonl"
    jsonl.write_text("".join(json.dumps({"tokens": s, "document_id": f"doc{d}"}) + "\n"
                             for s, d in zip(sentences, documents)))
    done = run_cli(tmp_path, "predict", "--model", str(run_dir / "model"), "--input", str(jsonl),
                   "--output", str(tmp_path / "pred.jsonl"), "--o-bias", "0")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text().splitlines()]
    assert [r["tags"] for r in rows] == evaluated and rows[0]["document_id"] == f"doc{documents[0]}"
