"""Tagger inside other tools: ``transformers.Trainer`` (:mod:`.trainer`) and ``pipeline`` (:mod:`.pipeline`).

Each submodule is imported on its own, so using one never loads what the others need.
"""
