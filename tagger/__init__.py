"""tagger: sequence labelling (NER) on Hugging Face encoders with pluggable losses."""

__version__ = "0.1.0"
