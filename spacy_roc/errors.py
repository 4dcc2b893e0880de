"""Coded errors and warnings of spacy-roc.

Codes follow spaCy's convention: ``Errors.E001`` renders as ``"[E001] ..."`` and
``Warnings.W001`` as ``"[W001] ..."``, so tests and users can match on the code. The
codes are namespaced by the ``ROC`` prefix so they never collide with spaCy's own.
"""
import os
import sys
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Tuple


class _ErrorsWithCodes(type):
    def __getattribute__(self, code: str) -> str:
        msg = super().__getattribute__(code)
        if code.startswith("__"):
            return msg
        return f"[{code}] {msg}"


class Warnings(metaclass=_ErrorsWithCodes):
    ROC_W001 = (
        "Doc has no image (doc._.image is None); it is encoded text-only. Set "
        "on_missing_image = \"error\" on the roc_relations component to make this an error."
    )
    ROC_W002 = (
        "Could not read the image of a doc ({reason}); the doc is encoded text-only. "
        "Check the file or bytes in doc._.image (relative paths are resolved against "
        "the working directory). One warning per batch names the first such image; "
        "the component counts all of them in `images.failed`."
    )
    ROC_W003 = (
        "Relation label '{label}' occurs in the training data but has no description. "
        "Using its name as the description: {description!r}. Add descriptions for it to "
        "the descriptions JSON file."
    )
    ROC_W004 = (
        "Span group '{key}' is not set on the doc; the doc has no entities for the "
        "roc_relations component. Set doc.spans['{key}'] or change spans_key."
    )
    ROC_W005 = (
        "Relation '{label}' had {n_dropped} empty or duplicate description(s); they were "
        "ignored."
    )
    ROC_W006 = (
        "The model has fusion_layers = 0: image tokens cannot reach the pair vector, so "
        "the image encoder is not built and no image is read."
    )
    ROC_W008 = (
        "The training data holds no relation other than the no-relation label "
        "'{none_label}'. The model can only learn to predict '{none_label}'."
    )
    ROC_W009 = (
        "The images folder {images_dir} does not exist: evaluating text-only, with the "
        "images withheld."
    )
    ROC_W010 = (
        "{n} entity span(s) have no label (first: {example!r}). The label is the "
        "entity type written into the pair markers, so these entities are marked with "
        "an empty type. Give the label when making the span, e.g. "
        "Span(doc, start, end, label=\"PERSON\"): setting span.label_ on a span read "
        "back from doc.spans changes a copy."
    )
    ROC_W011 = (
        "spacy_roc.annotated_pairs.v1 found no doc._.relation_pairs on a doc, so none of "
        "its pairs are scored. List the (head, tail) token offsets to score in "
        "doc._.relation_pairs (spacy_roc.Corpus.v1 lists the gold pairs), or use "
        "spacy_roc.all_pairs.v1 as the candidates."
    )
    # -- descriptions expand: ROC_W300-W309
    # -- annotate: ROC_W500-W509
    # -- convert prodigy / export prodigy: ROC_W110-W119
    # -- visualize: ROC_W400-W409
    ROC_W100 = (
        "Skipped {n_errors} malformed line(s) in {path} (on_error = \"skip\"); first "
        "ones: {examples}. The line numbers are in the returned stats under 'errors'."
    )
    ROC_W101 = (
        "{n_missing} of {n_docs} doc image(s) are missing from {images_dir}; those docs "
        "are usable text-only. First missing: {examples}."
    )


class Errors(metaclass=_ErrorsWithCodes):
    ROC_E001 = (
        "The roc_relations model is not initialized. Call nlp.initialize() (or train "
        "with `spacy train`) before using the component, or load a trained pipeline."
    )
    ROC_E002 = (
        "Unsupported image value of type {type}. doc._.image takes a file path (str or "
        "Path), encoded image bytes, a PIL.Image.Image or a numpy uint8 array of shape "
        "(H, W, 3)."
    )
    ROC_E003 = "Doc has no image and on_missing_image = \"error\"."
    ROC_E004 = (
        "Could not read the image of a doc ({reason}) and on_missing_image = \"error\"."
    )
    ROC_E005 = (
        "on_missing_image must be \"text_only\" or \"error\", not {value!r}."
    )
    ROC_E006 = "threshold must be a number in [0, 1], not {value!r}."
    ROC_E007 = "top_k must be a non-negative integer, not {value!r}."
    ROC_E008 = (
        "Gold relation label '{label}' is not in the relation set of the component "
        "({labels}). Add it with nlp.initialize() on data that contains it, or with "
        "add_relation()."
    )
    ROC_E009 = (
        "Relation '{label}' already exists. Use a new label, or pass "
        "overwrite=True to replace its descriptions."
    )
    ROC_E010 = "Relation '{label}' needs at least one non-empty description."
    ROC_E011 = (
        "The classifier head has a fixed label set; add_relation() needs "
        "head = \"retrieval\"."
    )
    ROC_E012 = (
        "The loss is not finite ({loss}) after a step on {n_pairs} pairs. Lower the "
        "learning rate, enable gradient clipping, or check the data."
    )
    ROC_E013 = (
        "Descriptions must be a JSON object {{label: [description, ...]}}; got {type} "
        "from {source}."
    )
    ROC_E014 = "Could not find the descriptions file {path}."
    ROC_E015 = (
        "Relation record {record!r} is not valid: {reason}. A record is "
        "{{'head': [start, end], 'tail': [start, end], 'label': str, ...}} with token "
        "offsets inside the doc."
    )
    ROC_E016 = (
        "Entity markers cannot be placed: the head span {head} and tail span {tail} "
        "are the same span."
    )
    ROC_E017 = "head must be \"retrieval\" or \"classifier\", not {value!r}."
    ROC_E018 = (
        "The roc_relations component has no relations. Pass descriptions to "
        "initialize, or train on data with relation annotations."
    )
    ROC_E019 = (
        "The no-relation label '{none_label}' must be in the relation set; add "
        "descriptions for it or keep it in the training data."
    )
    ROC_E020 = (
        "max_length of the text encoder ({max_length}) is too small to hold the two "
        "entity markers and special tokens; use at least {minimum}."
    )
    ROC_E021 = (
        "Could not load the text encoder '{name}': {reason}. Give a Hugging Face model "
        "name (downloaded on first use) or a local folder with config and tokenizer "
        "files."
    )
    ROC_E022 = (
        "Could not create the timm image encoder '{name}': {reason}."
    )
    ROC_E023 = (
        "numpy image arrays must have dtype uint8 and shape (H, W, 3), or (H, W) for "
        "grayscale; got dtype {dtype} and shape {shape}."
    )
    # -- descriptions expand: ROC_E300-E309
    # -- annotate: ROC_E500-E509
    # -- convert prodigy / export prodigy: ROC_E110-E119
    # -- visualize: ROC_E400-E409
    # -- zeroshot: ROC_E600-E609
    ROC_E100 = (
        "Malformed MNRE line {line_no} in {path}: {reason}. Each line must be a Python "
        "dict literal with keys 'token', 'h', 't', 'img_id' and 'relation'. Pass "
        "on_error=\"skip\" (CLI: --on-error skip) to skip and report such lines."
    )
    ROC_E101 = "on_error must be \"raise\" or \"skip\", not {value!r}."
    ROC_E102 = "Input file not found: {path}."
    ROC_E103 = "Images folder not found: {path}."
    ROC_E025 = "Corpus path not found: {path}."
    ROC_E026 = "Unknown description variant {value!r}; use one of {variants}."
    ROC_E200 = (
        "The pipeline has no roc_relations component (pipeline: {pipe_names}); it "
        "cannot be evaluated for relations."
    )
    ROC_E201 = "The corpus {path} holds no docs; there is nothing to evaluate."
    ROC_E027 = "image_size must be at least 12 pixels, not {value!r}."
    ROC_E028 = (
        "The model produced non-finite scores (NaN or inf) for {n_bad} of {n_pairs} "
        "candidate pairs; its weights are probably corrupt (e.g. saved after a diverged "
        "training step). Reload or retrain the pipeline."
    )
    ROC_E031 = (
        "No run reports under {path}: expected folders named {{run}}_seed{{n}} holding "
        "metrics.json (written by `python -m spacy_roc evaluate`)."
    )
    ROC_E033 = (
        "Entity grounding needs the image tokens' patch grid, but the image encoder's "
        "{n_tokens} tokens form neither its patch_embed.grid_size nor a square grid "
        "(after its class/register tokens). Use a ViT or CNN backbone, or turn "
        "remove [model.grounding]."
    )
    ROC_E034 = (
        "The text tokenizer does not know the entity markers {markers}: it turns one of "
        "them into its unknown token. Use a text encoder whose vocabulary has these "
        "punctuation characters (BERT-like wordpiece vocabularies do)."
    )
    ROC_E036 = (
        "spacy_roc.LevitatedMarkers.v1 needs max_length of at least {minimum} "
        "wordpieces per pass, not {max_length}."
    )
    ROC_E037 = (
        "The pair encoder {encoder} and the text encoder do not go together: "
        "spacy_roc.EntityPooling.v1 reads the token states of a shared transformer, so "
        "[model.text_encoder] must be spacy-transformers.TransformerListener.v1, and "
        "[model.relation_encoder] a spacy_roc.HFTextEncoder.v1 for the descriptions; "
        "the marker encoders need a spacy_roc.HFTextEncoder.v1 as text encoder."
    )
    ROC_E038 = (
        "The shared transformer's listener has no width yet: initialize the pipeline "
        "with its `transformer` component before roc_relations (as nlp.initialize "
        "does), so that the transformer finds its listener."
    )
    ROC_E035 = (
        "spacy_roc.EntityGrounding.v1 needs an image encoder, and fusion_layers > 0 for "
        "the image to be used. Set [model.image_encoder] or remove [model.grounding]."
    )


@lru_cache(maxsize=1)
def _internal_dirs() -> Tuple[str, ...]:
    import spacy
    import thinc

    packages = (Path(__file__).parent, Path(spacy.__file__).parent, Path(thinc.__file__).parent)
    return tuple(str(path) + os.sep for path in packages)


def warn(message: str, category=UserWarning) -> None:
    """Issue a coded warning attributed to the first frame outside spacy-roc, spaCy
    and thinc: the user's `nlp(doc)`, `nlp.pipe(...)`, `nlp.update(...)` or
    `nlp.initialize(...)` line, whatever the call depth inside the pipeline. Python's
    default filter then shows one warning per distinct message and calling line."""
    internal = _internal_dirs()
    frame = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(internal):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
