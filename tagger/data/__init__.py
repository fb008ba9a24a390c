"""Data: readers (CoNLL, JSON lines, Hub), tagging schemes, subword alignment and statistics."""

from tagger.data.conll import iter_conll, read_conll, write_conll
from tagger.data.jsonl import read_jsonl
from tagger.data.readers import NerData, load_ner_dataset
from tagger.data.schemes import convert_tags, detect_scheme, entities, parse_tag, sort_labels

__all__ = ["NerData", "convert_tags", "detect_scheme", "entities", "iter_conll", "load_ner_dataset", "parse_tag",
           "read_conll", "read_jsonl", "sort_labels", "write_conll"]
