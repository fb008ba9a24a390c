"""What document context (``data.context``) put into a run's training windows, for the log and all_results.json.

Context costs compute: every context subword is a position the encoder runs over without a label. The
report counts it (windows that got context, context subwords against all subwords) so that a run says
what it paid, and says why when it added nothing: data without documents (every sentence is a document
of its own, as in WNUT-17), or windows that the sentences already fill (``data.max_length``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tagger.data.documents import has_documents
from tagger.train.sampling import no_op_note

if TYPE_CHECKING:
    from tagger.train.features import SplitFeatures

logger = logging.getLogger(__name__)


def context_method(context: int) -> str:
    """How a run's context is named in labels, folders and notes: ``context=64``."""
    return f"context={context}"


@dataclass(frozen=True)
class ContextReport:
    """Document context in one split's windows; ``no_op`` says why none was added."""

    context: int  # subwords on offer on each side
    documents: int  # documents of the split (a sentence without one counts as one)
    sentences: int
    windows: int
    windows_with_context: int
    context_subwords: int  # context subwords over all windows
    subwords: int  # all subwords of the windows, special tokens and context included
    no_op: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"method": context_method(self.context), "context": self.context, "documents": self.documents,
                "sentences": self.sentences, "windows": self.windows,
                "windows_with_context": self.windows_with_context, "context_subwords": self.context_subwords,
                "subwords": self.subwords, "no_op": self.no_op or None}

    @property
    def note(self) -> str:
        return no_op_note(context_method(self.context), self.no_op) if self.no_op else ""


def context_report(split: SplitFeatures, context: int) -> ContextReport:
    """Count the context in ``split``'s windows (its ``context`` column: [W] (left, right) subwords)."""
    sides = split.columns.get("context") or [(0, 0)] * len(split)
    documents = split.documents or list(range(len(split.tokens)))
    taken = [left + right for left, right in sides]
    with_context = sum(1 for n in taken if n)
    no_op = ""
    if not with_context:
        no_op = ("no document holds two sentences: every sentence is a document of its own (no -DOCSTART- lines "
                 "or document_id)" if not has_documents(documents)
                 else "no window has room left for context (data.max_length)")
    report = ContextReport(context=context, documents=len(set(documents)), sentences=len(split.tokens),
                           windows=len(split), windows_with_context=with_context, context_subwords=sum(taken),
                           subwords=sum(split.lengths), no_op=no_op)
    if no_op:
        logger.warning("%s", report.note)
    logger.info("%s: %d of %d %s windows took %d context subwords (%.0f%% of their %d subwords)",
                context_method(context), with_context, report.windows, split.name, report.context_subwords,
                100 * report.context_subwords / max(report.subwords, 1), report.subwords)
    return report
