"""The CRF head against brute force: every tag sequence of small cases enumerated, in float64."""

from __future__ import annotations

import copy
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tagger.crf import CRF, FORBIDDEN, crf_nll_per_token, load_crf, save_crf, word_emissions
from tagger.data.schemes import convert_tags
from tagger.decoding import CRF_CONFIG, CRF_WEIGHTS, allowed_transitions

# C = 5 labels in each scheme
LABELS = {
    "IOB2": ["O", "B-X", "I-X", "B-Y", "I-Y"],
    "IOBES": ["O", "B-X", "I-X", "E-X", "S-X"],
    "BILOU": ["O", "B-X", "I-X", "L-X", "U-X"],
}
# rows of different lengths (one empty), and every combination of starts/ends
LENGTHS = [5, 4, 3, 2, 1, 0]
STARTS = [True, False, True, False, True, False]
ENDS = [True, True, False, False, True, True]


def random_crf(scheme: str, seed: int = 0, dtype: torch.dtype = torch.float64) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(LABELS[scheme], scheme).to(dtype)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_(0.0, 1.0)
    return crf


def batch(seed: int = 1, num: int = 5, dtype: torch.dtype = torch.float64):
    g = torch.Generator().manual_seed(seed)
    length = max(LENGTHS)
    emissions = torch.randn(len(LENGTHS), length, num, generator=g, dtype=dtype) * 2
    mask = torch.arange(length)[None, :] < torch.tensor(LENGTHS)[:, None]
    tags = torch.where(mask, torch.randint(0, num, (len(LENGTHS), length), generator=g), -100)
    return emissions, tags, mask, torch.tensor(STARTS), torch.tensor(ENDS)


def brute_force(crf: CRF, emissions, mask, starts, ends):
    """Per row: (every sequence [N, n], its score [N]) in float64, forbidden steps included."""
    start, trans, end = (x.detach().double().numpy() for x in crf.scores(torch.float64))
    em = emissions.detach().double().numpy()
    out = []
    for b in range(em.shape[0]):
        n = int(mask[b].sum())
        seqs = np.array(list(itertools.product(range(em.shape[2]), repeat=n)), dtype=np.int64).reshape(em.shape[2] ** n, n)
        score = em[b, np.arange(n)[None, :], seqs].sum(axis=1) if n else np.zeros(1)
        if n > 1:
            score = score + trans[seqs[:, :-1], seqs[:, 1:]].sum(axis=1)
        if n and bool(starts[b]):
            score = score + start[seqs[:, 0]]
        if n and bool(ends[b]):
            score = score + end[seqs[:, -1]]
        out.append((seqs, score))
    return out


def logsumexp(x: np.ndarray) -> float:
    m = x.max()
    return float(m + np.log(np.exp(x - m).sum()))


# ------------------------------------------------------------------------------------------ the mask


@pytest.mark.parametrize("scheme", ["IOB2", "IOBES", "BILOU"])
def test_allowed_sequences_are_exactly_the_well_formed_ones(scheme):
    """Reference: a sequence is well-formed when re-chunking it in its own scheme leaves it unchanged."""
    labels = ["O"] + [f"{p}-{t}" for t in ("X", "Y") for p in {"IOB2": "BI", "IOBES": "BIES", "BILOU": "BILU"}[scheme]]
    start, trans, end = allowed_transitions(labels, scheme)
    for n in range(1, 5):
        for seq in itertools.product(range(len(labels)), repeat=n):
            tags = [labels[i] for i in seq]
            allowed = start[seq[0]] and end[seq[-1]] and all(trans[a, b] for a, b in zip(seq, seq[1:]))
            assert allowed == (convert_tags(tags, scheme, scheme) == tags), tags


def test_iob1_and_unknown_schemes_are_refused():
    with pytest.raises(ValueError, match="IOB2"):
        allowed_transitions(LABELS["IOB2"], "IOB1")
    with pytest.raises(ValueError, match="unknown tagging scheme"):
        CRF(LABELS["IOB2"], "XYZ")


# ------------------------------------------------------------------------------------------ the algorithms


@pytest.mark.parametrize("scheme", ["IOB2", "IOBES", "BILOU"])
def test_log_partition_scores_and_nll_equal_brute_force(scheme):
    crf = random_crf(scheme)
    emissions, tags, mask, starts, ends = batch()
    log_z = crf.log_partition(emissions, mask, starts, ends)
    score = crf.score(emissions, tags, mask, starts, ends)
    nll = crf.nll(emissions, tags, mask, starts, ends)
    assert log_z.dtype == torch.float64
    for b, (seqs, scores) in enumerate(brute_force(crf, emissions, mask, starts, ends)):
        n = LENGTHS[b]
        if n == 0:
            assert nll[b] == 0
            continue
        gold = tags[b, :n].numpy()
        gold_score = scores[np.flatnonzero((seqs == gold).all(axis=1))[0]]
        assert log_z[b].item() == pytest.approx(logsumexp(scores), rel=1e-12, abs=1e-9)
        assert score[b].item() == pytest.approx(gold_score, rel=1e-12, abs=1e-9)
        assert nll[b].item() == pytest.approx(logsumexp(scores) - gold_score, rel=1e-10, abs=1e-9)


@pytest.mark.parametrize("scheme", ["IOB2", "IOBES", "BILOU"])
def test_viterbi_is_the_brute_force_argmax_and_well_formed(scheme):
    """CRF.decode (tagger's one Viterbi over the CRF's chain) finds the best of all sequences of each
    sentence, and what it finds is well-formed."""
    crf = random_crf(scheme, seed=3)
    for seed in range(4):
        emissions, _, mask, starts, ends = batch(seed)
        whole = torch.ones_like(starts)
        paths = crf.decode([emissions[b, :n] for b, n in enumerate(LENGTHS)])
        for b, (seqs, scores) in enumerate(brute_force(crf, emissions, mask, whole, whole)):
            assert paths[b] == (seqs[int(np.argmax(scores))].tolist() if LENGTHS[b] else [])
            if LENGTHS[b]:
                tags = [LABELS[scheme][i] for i in paths[b]]
                assert convert_tags(tags, scheme, scheme) == tags


def test_forbidden_steps_stay_impossible_whatever_the_learned_scores():
    """A large learned score cannot lift a forbidden step: the penalty is added to it, constant."""
    crf = random_crf("IOB2")
    with torch.no_grad():
        crf.transitions[0, 2] = 50.0  # O -> I-X
        crf.start[2] = 50.0  # I-X first
    emissions, _, mask, starts, ends = batch()
    allowed_start, allowed_trans, allowed_end = allowed_transitions(LABELS["IOB2"], "IOB2")
    log_z = crf.log_partition(emissions, mask, starts, ends)
    for b, (seqs, scores) in enumerate(brute_force(crf, emissions, mask, starts, ends)):
        if LENGTHS[b] < 2:
            continue
        ok = np.all(allowed_trans[seqs[:, :-1], seqs[:, 1:]], axis=1)
        if starts[b]:
            ok &= allowed_start[seqs[:, 0]]
        forbidden_mass = np.exp(scores[~ok] - log_z[b].item()).sum()
        assert forbidden_mass < 1e-100
        assert crf.transition_penalty[0, 2] == FORBIDDEN


def test_rows_without_words_and_single_words():
    crf = random_crf("IOBES")
    emissions = torch.randn(2, 1, 5, dtype=torch.float64)
    mask = torch.tensor([[True], [False]])
    every = torch.tensor([True, True])
    nll = crf.nll(emissions, torch.zeros(2, 1, dtype=torch.long), mask, every, every)
    assert nll[1] == 0 and nll[0] > 0
    assert crf.decode([emissions[0], emissions[1, :0]])[1] == []
    empty = torch.zeros(3, 0, 5, dtype=torch.float64)
    no_words = torch.zeros(3, 0, dtype=torch.bool)
    assert crf.nll(empty, no_words.long(), no_words, every[:1].expand(3), every[:1].expand(3)).tolist() == [0, 0, 0]


def test_gradients_match_finite_differences():
    crf = random_crf("BILOU")
    emissions, tags, mask, starts, ends = batch()
    emissions = emissions[:4, :3].clone().requires_grad_(True)
    tags, mask, starts, ends = tags[:4, :3], mask[:4, :3], starts[:4], ends[:4]
    params = tuple(p.detach().clone().requires_grad_(True) for p in (crf.transitions, crf.start, crf.end))

    def nll(em, transitions, start, end):
        values = {"transitions": transitions, "start": start, "end": end}
        return torch.func.functional_call(crf, values, (em, tags, mask, starts, ends))

    assert torch.autograd.gradcheck(nll, (emissions, *params))


def test_bf16_autocast_computes_in_float32():
    """Emissions from a layer under bf16 autocast: the CRF upcasts them and its results are float32,
    within float32 rounding of the float64 result on the same bf16 values."""
    crf32 = random_crf("IOB2", dtype=torch.float32)
    crf64 = copy.deepcopy(crf32).double()
    emissions, tags, mask, starts, ends = batch(dtype=torch.float32)
    layer = torch.nn.Linear(5, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        em = layer(emissions * 3)
        assert em.dtype == torch.bfloat16
        nll = crf32.nll(em, tags, mask, starts, ends)
        paths = crf32.decode([em[b, :n] for b, n in enumerate(LENGTHS)])
    reference = crf64.nll(em.double(), tags, mask, starts, ends)
    assert nll.dtype == torch.float32
    torch.testing.assert_close(nll.double(), reference, rtol=1e-5, atol=1e-4)
    assert paths == crf64.decode([em.double()[b, :n] for b, n in enumerate(LENGTHS)])


# ------------------------------------------------------------------------------------------ windows


def test_word_emissions_of_a_long_sentence_in_windows(tokenizer):
    """Three windows of one sentence: each packs its own words in order; only the first starts the
    sentence and only the last ends it."""
    from tagger.data.align import encode_sentences
    from tagger.train.batching import WindowCollator

    words = [f"word{i}" for i in range(30)]
    enc = encode_sentences([words], tokenizer, tag_ids=[[i % 5 for i in range(30)]], max_length=24, stride=6)
    rows = [{k: enc[k][i] for k in ("input_ids", "labels", "word_index", "sentence_id")}
            for i in range(len(enc["input_ids"]))]
    assert len(rows) >= 3
    b = WindowCollator(0)(rows)
    logits = torch.randn(*b["input_ids"].shape, 5)
    packed = word_emissions(logits, b["word_index"], torch.full((len(rows),), 30), b["labels"], b["max_words"])
    assert packed.emissions.shape[1] == b["max_words"] == int((b["word_index"] >= 0).sum(1).max())
    seen = []
    for r in range(len(rows)):
        positions = torch.nonzero(b["word_index"][r] >= 0).squeeze(1)
        n = len(positions)
        assert packed.mask[r].tolist() == [True] * n + [False] * (packed.mask.shape[1] - n)
        assert torch.equal(packed.emissions[r, :n], logits[r, positions])
        assert packed.tags[r, :n].tolist() == b["labels"][r, positions].tolist()
        seen += b["word_index"][r, positions].tolist()
    assert seen == list(range(30))  # every word once, in order
    assert packed.starts.tolist() == [True] + [False] * (len(rows) - 1)
    assert packed.ends.tolist() == [False] * (len(rows) - 1) + [True]
    # without max_words the width is counted
    assert torch.equal(word_emissions(logits, b["word_index"], torch.full((len(rows),), 30)).emissions,
                       packed.emissions)


def test_crf_loss_is_the_sum_of_window_nlls_per_labelled_token():
    crf = random_crf("IOB2", dtype=torch.float32)
    word_index = torch.tensor([[-1, 0, 1, -1, 2, -1], [-1, 3, 4, -1, -1, -1]])
    labels = torch.where(word_index >= 0, torch.tensor([[0, 1, 2, 0, 3, 0], [0, 4, 0, 0, 0, 0]]), -100)
    logits = torch.randn(2, 6, 5)
    loss = crf_nll_per_token(crf, logits, labels, word_index, torch.tensor([3, 5]))
    first = crf.nll(logits[:1, [1, 2, 4]], torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.bool),
                    torch.tensor([True]), torch.tensor([True]))
    second = crf.nll(logits[1:, [1, 2]], torch.tensor([[4, 0]]), torch.ones(1, 2, dtype=torch.bool),
                     torch.tensor([False]), torch.tensor([True]))
    torch.testing.assert_close(loss, (first + second).squeeze() / 5)


# ------------------------------------------------------------------------------------------ decoding sentences


def test_decode_is_invariant_to_a_constant_per_word():
    """Logits, their log-softmax (per-word log-probabilities) and logits plus any per-word constant
    give every path the same extra score, so the same best path."""
    crf = random_crf("IOBES", seed=5, dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    logits = [torch.randn(n, 5, generator=g, dtype=torch.float64) * 3 for n in (4, 1, 0, 5, 2)]
    expected = crf.decode(logits)
    assert [len(p) for p in expected] == [4, 1, 0, 5, 2]
    assert crf.decode([x.log_softmax(-1).numpy() for x in logits]) == expected
    assert crf.decode([x + torch.randn(len(x), 1, generator=g) * 10 for x in logits]) == expected
    every = torch.ones(1, dtype=torch.bool)
    for x, path in zip(logits, expected):
        if len(x):
            seqs, scores = brute_force(crf, x[None], torch.ones(1, len(x), dtype=torch.bool), every, every)[0]
            assert path == seqs[int(np.argmax(scores))].tolist()


def test_save_and_load(tmp_path):
    crf = random_crf("BILOU", dtype=torch.float32)
    save_crf(crf, tmp_path)
    assert json.loads((tmp_path / CRF_CONFIG).read_text()) == {"labels": LABELS["BILOU"], "scheme": "BILOU"}
    back = load_crf(tmp_path, LABELS["BILOU"])
    assert back.scheme == "BILOU" and back.labels == LABELS["BILOU"]
    for name in ("transitions", "start", "end"):
        assert torch.equal(getattr(back, name), getattr(crf, name))
    assert torch.equal(back.transition_penalty, crf.transition_penalty)
    from tagger.errors import InputError

    with pytest.raises(InputError, match="not the model's"):
        load_crf(tmp_path, LABELS["IOBES"])
    assert load_crf(tmp_path / "nothing") is None


def test_tagger_decodes_with_a_saved_crf_and_keeps_argmax_without(tmp_path, tiny_encoder_dir):
    """A model folder with crf.safetensors: Tagger's tags are the brute-force best sequence over the
    words' logits; the same folder without it: each word's argmax, as before."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from tagger.predict import Tagger

    labels = LABELS["IOB2"]
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_encoder_dir, num_labels=5, id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)})
    with torch.no_grad():
        model.classifier.weight.mul_(40)  # a random model, but with decided logits
    plain = tmp_path / "plain"
    model.save_pretrained(plain)
    AutoTokenizer.from_pretrained(tiny_encoder_dir).save_pretrained(plain)
    with_crf = tmp_path / "crf"
    shutil.copytree(plain, with_crf)
    crf = random_crf("IOB2", seed=2, dtype=torch.float32)
    save_crf(crf, with_crf)
    assert (with_crf / CRF_WEIGHTS).is_file()

    sentences = [["Jim", "Henson", "was", "a", "puppeteer"], ["in", "New", "York"], ["Paris"], []]
    tagger = Tagger.from_pretrained(with_crf, device="cpu")
    argmax_tagger = Tagger.from_pretrained(plain, device="cpu")
    assert tagger.crf is not None and argmax_tagger.crf is None
    got, argmax = tagger.predict(sentences), argmax_tagger.predict(sentences)
    tok = tagger.tokenizer
    every = torch.ones(1, dtype=torch.bool)
    for words, tags, argmax_tags in zip(sentences, got, argmax):
        if not words:
            assert tags == argmax_tags == []
            continue
        enc = tok(words, is_split_into_words=True, return_tensors="pt")
        firsts = [enc.word_ids().index(i) for i in range(len(words))]
        with torch.no_grad():
            logits = model(**enc).logits[0, firsts].double()
        seqs, scores = brute_force(crf, logits[None], torch.ones(1, len(words), dtype=torch.bool), every, every)[0]
        assert tags == [labels[i] for i in seqs[int(np.argmax(scores))]]
        assert argmax_tags == [labels[i] for i in logits.argmax(-1).tolist()]
    assert got != argmax  # the CRF changed something here

    # scores: the CRF's tags, each entity with a probability in (0, 1]
    scored = tagger.predict(sentences, scores=True)
    assert [r["tags"] for r in scored] == got
    assert all(0 < e["score"] <= 1 for r in scored for e in r["entities"]) and any(r["entities"] for r in scored)
    # tagger predict: the CRF's tags, and it says it decoded with the CRF
    from recipe_runner import run_cli

    src = tmp_path / "in.conll"
    src.write_text("\n\n".join("\n".join(words) for words in sentences if words) + "\n")
    proc = run_cli(tmp_path, "predict", "--model", str(with_crf), "--input", str(src), "--output",
                   str(tmp_path / "out.conll"), "--device", "cpu")
    assert proc.returncode == 0 and "(CRF head)" in proc.stderr, proc.stderr[-2000:]
    blocks = [b for b in (tmp_path / "out.conll").read_text().split("\n\n") if b.strip()]
    assert [[line.split()[-1] for line in b.splitlines()] for b in blocks] == [t for t in got if t]


@pytest.mark.parametrize("scheme", ["IOB2", "IOBES", "BILOU"])
def test_crf_entity_scores_are_brute_force_span_marginals(scheme):
    """Each entity of the CRF's path scores P(its words carry exactly its tags and the next word does not
    continue it): the sum of exp(score) over every such sequence of 5 words, over the sum over all."""
    from tagger.crf import CRFDecoder
    from tagger.data.schemes import entities

    labels = LABELS[scheme]
    crf = random_crf(scheme, seed=3)
    decoder = CRFDecoder(crf)
    g = np.random.default_rng(4)
    checked = 0
    for _ in range(6):
        lp = np.log(g.dirichlet(np.ones(len(labels)) * 0.5, size=5))
        tags, scored = decoder.scored(lp)
        assert tags == decoder.tags(lp)
        every = torch.ones(1, dtype=torch.bool)
        seqs, score = brute_force(crf, torch.from_numpy(lp)[None], torch.ones(1, 5, dtype=torch.bool), every, every)[0]
        assert tags == [labels[i] for i in seqs[int(np.argmax(score))]]
        log_z = logsumexp(score)
        for typ, first, last, p in scored:
            hits = [k for k, seq in enumerate(seqs)
                    if (typ, first, last) in entities([labels[i] for i in seq])]
            assert p == pytest.approx(float(np.exp(logsumexp(score[hits]) - log_z)), rel=1e-9, abs=1e-12)
            checked += 1
        assert [(t, s, e) for t, s, e, _ in scored] == entities(tags)
    assert checked >= 3
    # a split decoded together (ragged lengths, an empty sentence) scores each sentence as it alone would
    rows = [np.log(g.dirichlet(np.ones(len(labels)) * 0.5, size=n)) for n in (3, 0, 7, 1, 5, 12)]
    biased = CRFDecoder(crf, o_bias=0.8)
    for dec in (decoder, biased):
        assert dec.scored_many(rows) == [dec.scored(lp) for lp in rows]
        assert [tags for tags, _ in dec.scored_many(rows)] == dec.split_tags(rows)


def test_numpy_chain_scores_decode_as_the_torch_crf(tmp_path):
    """load_chain_scores reads a saved CRF with numpy alone; its Viterbi is the torch CRF's, and a folder
    without a CRF has none."""
    from tagger.decoding import Decoder, load_chain_scores

    crf = random_crf("IOBES", seed=5, dtype=torch.float32)
    save_crf(crf, tmp_path)
    chain, scheme = load_chain_scores(tmp_path, LABELS["IOBES"])
    assert scheme == "IOBES"
    decoder = Decoder(LABELS["IOBES"], "viterbi", chain=chain)
    g = np.random.default_rng(6)
    rows = [np.log(g.dirichlet(np.ones(5), size=n)) for n in (1, 2, 5, 9)]
    assert [decoder.decode(lp) for lp in rows] == crf.decode(rows)
    assert load_chain_scores(tmp_path / "nothing") is None
    from tagger.errors import InputError

    with pytest.raises(InputError, match="not the model's"):
        load_chain_scores(tmp_path, LABELS["BILOU"])


def test_onnx_export_and_pipeline_decode_with_the_crf(tmp_path, tiny_encoder_dir):
    """A CRF model exported to ONNX keeps its head (crf files copied, decoded without torch) and the
    pipeline integration decodes with it: both give the torch Tagger's tags, scores included."""
    pytest.importorskip("onnxruntime")
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    from tagger.export import export_onnx
    from tagger.integrations.pipeline import TaggerPipeline
    from tagger.predict import Tagger

    labels = LABELS["IOB2"]
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_encoder_dir, num_labels=5, id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)})
    with torch.no_grad():
        model.classifier.weight.mul_(40)
    folder = tmp_path / "crf"
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_encoder_dir).save_pretrained(folder)
    save_crf(random_crf("IOB2", seed=2, dtype=torch.float32), folder)
    onnx_dir = export_onnx(folder, tmp_path / "onnx")
    assert (onnx_dir / CRF_WEIGHTS).is_file() and (onnx_dir / CRF_CONFIG).is_file()

    sentences = [["Jim", "Henson", "was", "a", "puppeteer"], ["in", "New", "York"], ["Paris", "and", "Rome"]]
    torch_tagger, onnx_tagger = Tagger.from_pretrained(folder, device="cpu"), Tagger.from_pretrained(onnx_dir)
    assert onnx_tagger.crf is not None
    want = torch_tagger.predict(sentences, scores=True)
    got = onnx_tagger.predict(sentences, scores=True)
    assert [r["tags"] for r in got] == [r["tags"] for r in want]
    for g_row, w_row in zip(got, want):
        assert [e["score"] for e in g_row["entities"]] == pytest.approx([e["score"] for e in w_row["entities"]], abs=1e-3)
    # the pipeline: entities of `tagger predict --pre-tokenizer tokenizer`, which decodes with the CRF
    pipe = pipeline("token-classification", model=str(folder), pipeline_class=TaggerPipeline, device="cpu")
    texts = [" ".join(words) for words in sentences]
    text_tagger = Tagger.from_pretrained(folder, device="cpu", pre_tokenizer="tokenizer")
    expected = [[(e["type"], e["start"], e["end"]) for e in row] for row in text_tagger.predict(texts)]
    assert [[(e["entity_group"], e["start"], e["end"]) for e in row] for row in pipe(texts)] == expected
    assert any(expected)
    text_tagger.crf = None  # the CRF matters here: without it the entities differ
    assert [[(e["type"], e["start"], e["end"]) for e in row] for row in text_tagger.predict(texts)] != expected


# ------------------------------------------------------------------------------------------ configuration


def test_head_is_a_lever_and_an_axis_of_the_sweep():
    from tagger.config import help_text, load_config
    from tagger.crf import HEADS
    from tagger.errors import ConfigError
    from tagger.losses.labels import LEVER_CHOICES, RUN_LEVERS, loss_label, split_spec

    assert "head" in RUN_LEVERS and LEVER_CHOICES["head"] == HEADS == ("linear", "crf")
    cfg = load_config(None, ["sweep.losses=[{name: ce}, {name: focal, gamma: 2.0}]", "sweep.seeds=[1]",
                             "sweep.sampling=[none, drop_empty]", "sweep.heads=[linear, crf]"])
    assert [loss_label(spec) for spec, _ in cfg.run_specs()][:4] == ["ce", "ce + crf", "ce + drop_empty",
                                                                    "ce + drop_empty + crf"]
    assert len(cfg.run_specs()) == 8
    # the default key, and a lever that is off stays out of the spec (same label and folder as before)
    assert load_config(None, ["model.head=crf"]).run_specs() == [({"name": "ce", "head": "crf"}, 1)]
    assert load_config(None).run_specs() == [({"name": "ce"}, 1)]
    assert split_spec({"name": "ce", "head": "linear"}) == ({}, {})
    assert load_config(None).model.crf_token_weight == 1.0 and load_config(None).model.crf_learning_rate == 0.01
    for override, message in [
        ("model.head=tree", r"model.head: 'tree' is not one of linear, crf"),
        ("sweep.heads=[crf, crf]", r"sweep.heads: items 0 and 1 are the same"),
        ("sweep.losses=[{name: ce, head: semi}]", r"sweep.losses\[0\].head: 'semi' is not one of linear, crf"),
        ("model.crf_token_weight=-1", r"model.crf_token_weight: must be >= 0"),
        ("model.crf_learning_rate=0", r"model.crf_learning_rate: must be > 0"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_config(None, [override])
    argmax = ["data.scheme=IOB1", "training.decoding=argmax", "sweep.decodings=[argmax]"]
    with pytest.raises(ConfigError, match="data.scheme: a CRF head trains on IOB2, IOBES, BILOU tags, not IOB1"):
        load_config(None, ["model.head=crf", *argmax])
    load_config(None, argmax)  # the linear head decoded by argmax does not care
    assert "model.head (str, default 'linear') [one of linear, crf]" in help_text()


# ------------------------------------------------------------------------------------------ the recipe


def test_recipe_trains_a_crf_head_and_tagger_decodes_as_the_evaluation_did(tmp_path, tiny_encoder_dir, data_dir):
    """sweep.heads=[linear, crf]: two runs; the CRF run saves its head beside the model, its card says
    so, and Tagger with the saved folder tags the test split exactly as the recipe's evaluation did."""
    from test_recipe import run_recipe, tiny_args

    from tagger.predict import Tagger

    out = tmp_path / "out"
    # fp32, as Tagger predicts: under bf16 the near-ties of a tiny random model could break differently
    proc = run_recipe(tiny_args(tiny_encoder_dir, data_dir, out, "sweep.heads=[linear, crf]", "training.epochs=1",
                                "training.mixed_precision=no"), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = {r["label"]: r for r in json.loads((out / "summary.json").read_text())["runs"]}
    assert set(runs) == {"ce", "ce + crf"}
    crf_run = out / "runs" / runs["ce + crf"]["run"]
    assert crf_run.name == "ce_crf-seed1"
    crf_result = json.loads((crf_run / "all_results.json").read_text())
    assert crf_result["levers"] == {"head": "crf"}
    # the CRF decodes itself: its Viterbi, with the O bias and the per-type biases on its emissions
    assert set(crf_result["decodings"]) == {"viterbi", "viterbi+threshold", "viterbi+type_thresholds"}
    assert crf_result["decodings"]["viterbi"]["test"] == crf_result["test"]
    rows = json.loads((out / "summary.json").read_text())["table"]
    assert [r["decoding"] for r in rows if r["loss"] == "ce + crf"] == [
        "viterbi", "viterbi+threshold", "viterbi+type_thresholds"]
    # its entity scores are the CRF's marginals, calibrated on test like every decoding's
    calib = crf_result["calibration"]
    assert calib["entities"] == sum(b["count"] for b in calib["bins"]) > 0
    assert [r["test_ece_mean"] for r in rows if r["label"] == "ce + crf · viterbi"] == [calib["ece"]]
    model_dir = crf_run / "model"
    assert {CRF_WEIGHTS, CRF_CONFIG, "model.safetensors", "tagger_run.json"} <= {p.name for p in model_dir.iterdir()}
    run_info = json.loads((model_dir / "tagger_run.json").read_text())
    assert run_info["crf"] == {"scheme": "IOB2", "token_weight": 1.0, "learning_rate": 0.01}
    typed = crf_result["decodings"]["viterbi+type_thresholds"]
    assert run_info["decoding"]["o_bias"] == {"viterbi": typed["o_bias"]}
    assert run_info["decoding"]["type_bias"] == {"viterbi": typed["type_bias"]}
    assert run_info["hyperparameters"]["head"] == "crf"
    card = (model_dir / "README.md").read_text()
    assert "This model has a CRF head" in card and "apply `viterbi+type_thresholds` by default" in card
    assert [line for line in card.splitlines() if "← this model" in line][0].startswith(
        "| `ce + crf · viterbi+type_thresholds`")
    linear_dir = out / "runs" / runs["ce"]["run"] / "model"
    assert not (linear_dir / CRF_WEIGHTS).exists() and "CRF head" not in (linear_dir / "README.md").read_text()

    def predictions(name: str) -> tuple[list[list[str]], list[list[str]]]:
        blocks = [b for b in (crf_run / name).read_text().split("\n\n") if b.strip()]
        rows = [[line.split(" ") for line in b.splitlines()] for b in blocks]
        return [[r[0] for r in sent] for sent in rows], [[r[2] for r in sent] for sent in rows]

    tagger = Tagger.from_pretrained(model_dir, device="cpu")  # the saved biases on the CRF's emissions
    assert tagger.crf is not None and tagger.crf.transitions.abs().max() > 0  # it learned
    words, tags = predictions("test_predictions.viterbi+type_thresholds.conll")
    assert tagger.predict(words) == tags
    words, tags = predictions("test_predictions.conll")
    assert Tagger.from_pretrained(model_dir, device="cpu", o_bias=0).predict(words) == tags


def test_interrupted_crf_run_resumes_bit_identical(tmp_path, probe_workspace):
    """The CRF is checkpointed and kept with the best epoch like the model: stopped in its second epoch
    and resumed, a CRF run ends with the scores, weights and CRF of an uninterrupted one, byte for byte."""
    import hashlib
    import signal
    import sys

    from test_recipe import REPO, run_recipe

    sys.path.insert(0, str(REPO / "scripts"))
    from fault_probe import launch_interrupted, run_fingerprint

    def fingerprint(out: Path) -> dict:
        (model,) = out.glob("runs/*/model")
        return {**run_fingerprint(out), "crf_sha256": hashlib.sha256((model / CRF_WEIGHTS).read_bytes()).hexdigest()}

    ws = probe_workspace
    ref = run_recipe(ws.recipe_args(tmp_path / "ref", "model.head=crf"), tmp_path)
    assert ref.returncode == 0, ref.stderr[-2000:]
    expected = fingerprint(tmp_path / "ref")
    per_epoch = expected["epochs"][0][1]
    args = ws.recipe_args(tmp_path / "int", "model.head=crf")
    stop = launch_interrupted(args, per_epoch + per_epoch // 2, signal.SIGTERM, tmp_path)
    assert stop.returncode == 128 + signal.SIGTERM, stop.stderr[-2000:]
    done = run_recipe([*args, "training.resume_from_checkpoint=latest"], tmp_path)
    assert done.returncode == 0 and "resumed from step_" in done.stderr, done.stderr[-2000:]
    assert fingerprint(tmp_path / "int") == expected
    (model,) = (tmp_path / "ref").glob("runs/*/model")
    assert load_crf(model).transitions.abs().max() > 0.01  # the CRF learned at its own rate (model.crf_learning_rate)


@pytest.mark.slow
def test_bench_train_crf_check_smoke(tmp_path, tiny_encoder_dir, data_dir):
    """bench_train.py --crf-check times the linear head against the CRF head on the same batches."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, str(repo / "scripts" / "bench_train.py"), "--smoke", "--skip-training",
                           "--skip-losses", "--crf-check", "--model", tiny_encoder_dir, "--json",
                           str(tmp_path / "bench.json")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    crf = json.loads((tmp_path / "bench.json").read_text())["crf"]
    assert set(crf["step_ms_min"]) == {"linear", "crf"} and crf["rounds"] == 2
    assert crf["step_ratio"] > 0 and crf["step_ratio_median_paired"] > 0 and len(crf["load_average"]) == 3
    assert "CRF head (model.head: crf)" in proc.stdout
