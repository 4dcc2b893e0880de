"""Torch-side layers of spacy-roc. Importing `spacy_roc.layers` stays light; the
modules that need torch (`network`, `builder`) are imported where they are used."""
