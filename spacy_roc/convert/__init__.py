"""Converters from relation extraction corpora to spaCy's binary ``.spacy`` format."""
from ..docbin import read_docbin, write_docbin
from .mnre import ENTITY_LABEL, SPANS_KEY, convert_mnre, mnre_to_docs, parse_mnre_line
from .prodigy import convert_prodigy, export_prodigy, prodigy_to_docs

__all__ = [
    "ENTITY_LABEL", "SPANS_KEY", "convert_mnre", "mnre_to_docs", "parse_mnre_line",
    "read_docbin", "write_docbin", "convert_prodigy", "export_prodigy", "prodigy_to_docs",
]
