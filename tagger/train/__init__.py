"""Parts of the training loop that ``recipes/ner.py`` composes."""
