"""Data formats: the Doc<->JSON codec, JSONL, DocBin, the corpus reader, and the
converters (MNRE, Prodigy, FewRel). Formats build on the component; the component
never imports them."""
