"""What ``scripts/bench_predict.py`` judges once the setups have run: each setup's tags, entities and test F1
against PyTorch's on the same words, tagger's entities against the pipeline's (every differing sentence
explained), and the figures against their targets.
"""

from __future__ import annotations

from typing import Any

import _bench_common as common
from _bench_predict_text import INT8, NAMES, PIPELINE, TAGGER_SETUPS, TORCH, VITERBI

TARGET = 1.5  # words/s tagger PyTorch / pipeline
TARGET_INT8 = 4.0  # words/s tagger ONNX int8 / pipeline
TARGET_F1_DROP = 0.5  # test F1 points int8 may lose against PyTorch
TARGET_VITERBI = 1.10  # seconds of Tagger.predict with viterbi / with argmax, same PyTorch model
TARGET_CLI_ONNX = 3.0  # seconds of a one-line `tagger predict` on the int8 export, process start included


def explain(tokenizer: Any, words: list[str], max_length: int) -> str:
    info = common.pipeline_words(tokenizer, words)
    if info["reasons"]:
        return "; ".join(sorted(info["reasons"]))
    if info["pieces"] > max_length - 2:
        return f"longer than a tagger window ({max_length} subwords): windowed"
    if info["pieces"] > tokenizer.model_max_length - 2:
        return "truncated by the pipeline"
    return "unexplained"


def entity_check(words: list[list[str]], tag_seqs: list[list[str]], pipe_out: list, tokenizer: Any,
                 max_length: int) -> dict[str, Any]:
    """tagger's entities (at its default window) against the pipeline's on word lists, sentence by sentence;
    every differing sentence explained."""
    differ: dict[str, int] = {}
    n_diff = 0
    examples = []
    ent_tagger = ent_pipe = 0
    for ws, tags, po in zip(words, tag_seqs, pipe_out):
        a = common.word_entities_to_chars(ws, tags)
        b = common.pipeline_entities(po)
        ent_tagger += len(a)
        ent_pipe += len(b)
        if a != b:
            n_diff += 1
            why = explain(tokenizer, ws, max_length)
            differ[why] = differ.get(why, 0) + 1
            if len(examples) < 3 and why == "unexplained":
                examples.append({"words": ws, "tagger": a, "pipeline": b})
    clean = [common.pipeline_words(tokenizer, ws)["one_word_each"] for ws in words]
    same_on_clean = all(common.word_entities_to_chars(ws, t) == common.pipeline_entities(po)
                        for ws, t, po, c in zip(words, tag_seqs, pipe_out, clean) if c)
    return {"entities_tagger": ent_tagger, "entities_pipeline": ent_pipe, "differing_sentences": n_diff,
            "differ_by_cause": differ, "one_word_each": sum(clean), "same_on_clean": same_on_clean,
            "examples": examples}


def unscorable(gold: list[list[str]], model_labels: list[str]) -> str | None:
    """Why test F1 would mean nothing here (no gold entities, or entity types the model does not tag), else None."""
    from tagger.data.schemes import parse_tag

    gold_types = {parse_tag(t)[1] for tags in gold for t in tags} - {None}
    if not gold_types:
        return "the test split has no gold entities"
    try:
        model_types = {parse_tag(label)[1] for label in model_labels} - {None}
    except ValueError:
        return "the model's labels are not PREFIX-TYPE tags"
    missing = gold_types - model_types
    if missing:
        return f"the model does not tag {', '.join(sorted(missing))} (trained on other data?)"
    return None


def quality(test: list[tuple[list[str], list[str]]], outputs: dict[str, Any], check: dict[str, Any],
            model_labels: list[str]) -> dict[str, Any]:
    """Each setup against PyTorch on the same words, and the test F1 of the tagger setups where it means
    something (:func:`unscorable`)."""
    from tagger.metrics import score_sequences

    gold = [t for _, t in test]
    why_not = unscorable(gold, model_labels)
    setups: dict[str, dict[str, Any]] = {
        PIPELINE: {"tags_identical": None, "sentences_identical": 1 - check["differing_sentences"] / len(test),
                   "test_f1": None}}
    for key in (k for k in TAGGER_SETUPS if k in outputs):
        f1 = None if why_not else score_sequences(gold, outputs[key], mode="conlleval")["f1"]
        setups[key] = {**common.tag_agreement(outputs[TORCH], outputs[key]), "test_f1": f1}
    change = None
    if why_not is None and INT8 in setups:
        change = 100 * (setups[INT8]["test_f1"] - setups[TORCH]["test_f1"])
    return {"setups": setups, "f1_change_int8_points": change, "f1_not_scored": why_not}


def checks(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets, for those setups that ran."""
    out = []
    rows, q = result["rows"], result["quality"]
    for key, target in ((TORCH, TARGET), (INT8, TARGET_INT8)):
        if key in rows:
            r = rows[key]["ratio_to_pipeline"]
            out.append({"key": f"words_per_second_{key}_over_pipeline", "value": r, "target": target,
                        "pass": r >= target, "text": f"words/s tagger {NAMES[key]} / pipeline = {r:.2f}x   "
                                                     f"target >= {target}x"})
    if VITERBI in rows:
        r = rows[VITERBI]["seconds"] / rows[TORCH]["seconds"]
        out.append({"key": "seconds_viterbi_over_argmax", "value": r, "target": TARGET_VITERBI,
                    "pass": r <= TARGET_VITERBI, "text": f"seconds Tagger.predict viterbi / argmax = {r:.3f}x   "
                                                        f"target <= {TARGET_VITERBI}x"})
    if q["f1_change_int8_points"] is not None:
        d = q["f1_change_int8_points"]
        out.append({"key": "test_f1_onnx_int8_minus_torch_points", "value": d, "target": -TARGET_F1_DROP,
                    "pass": d >= -TARGET_F1_DROP,
                    "text": f"test F1 ONNX int8 - PyTorch = {d:+.2f} points   target >= -{TARGET_F1_DROP}"})
    start = (result.get("cli") or {}).get("one_line", {}).get(INT8)
    if start:
        s = start["seconds"]
        out.append({"key": "cli_one_line_onnx_int8_seconds", "value": s, "target": TARGET_CLI_ONNX,
                    "pass": s < TARGET_CLI_ONNX and start["returncode"] == 0,
                    "text": f"one-line tagger predict, ONNX int8 = {s:.2f} s   target < {TARGET_CLI_ONNX} s"})
    return out
