"""Coded errors and warnings of spacy-roc.

Codes follow spaCy's convention, through spaCy's own ``ErrorsWithCodes``:
``Errors.ROC_E001`` renders as ``"[ROC_E001] ..."``, so tests and users can match on
the code. The codes are namespaced by the ``ROC`` prefix so they never collide with
spaCy's own.
"""
import os
import sys
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Tuple

from spacy.errors import ErrorsWithCodes


class Warnings(metaclass=ErrorsWithCodes):
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
    ROC_W013 = (
        "Entity labels the model never saw in training: {labels}. They are shown to the "
        "model as {shown} (it was trained with {known}). Set the component's "
        "type_map, e.g. {{\"PER\": \"PERSON\"}}, to choose."
    )
    ROC_W014 = (
        "{n} doc(s) have entities, but none of their pairs has entity types a trained "
        "relation was seen with ({type_pairs}): no pair is scored. Add a relation for "
        "those types (add_relation), or set restrict_types = false in the candidates."
    )
    ROC_W015 = (
        "spacy_roc.sentence_pairs.v1 got a doc without sentence boundaries: all its "
        "entity pairs are proposed, as one sentence. Put a sentencizer (or a parser) "
        "before roc_relations."
    )
    ROC_W012 = (
        "{n} relation(s) are new to the model (added after training, or their texts "
        "changed), but its pair encoder (spacy_roc.EntityPooling.v1, on a shared "
        "transformer that trains) has no pretrained pass to score them with: they are "
        "scored by the trained model, like the trained relations."
    )
    # -- convert more: ROC_W120-W129
    ROC_W120 = (
        "{n_errors} line(s) of {path} were skipped (on_error=\"skip\"), e.g. {examples}. "
        "They are listed in the stats under \"errors\"."
    )
    ROC_W121 = (
        "{n} box(es) of {path} reach outside [0, 1] and were clipped to it, e.g. {examples}."
    )
    ROC_W122 = (
        "{n} image(s) of {path} have more than {limit} objects (MORE has at most {limit}); "
        "all are kept, e.g. {examples}."
    )
    # -- descriptions expand: ROC_W300-W309
    ROC_W300 = (
        "The LLM '{model}' was not called: its API key is missing ({reason}). Relation "
        "'{label}' keeps its {n_kept} description(s). Set the key in the environment "
        "and rerun; cached responses are reused."
    )
    ROC_W301 = (
        "The LLM '{model}' raised {error} on the prompt of relation '{label}', which "
        "keeps its {n_kept} description(s). Rerun to ask again; cached responses are "
        "reused."
    )
    ROC_W302 = (
        "The LLM's response for relation '{label}' holds no numbered line ('1. ...', "
        "'1) ...' or '- ...') of at most {max_chars} characters: {excerpt!r}. The "
        "relation keeps its {n_kept} description(s); the response is not cached, so a "
        "rerun asks again."
    )
    ROC_W303 = (
        "The LLM gave {n_new} new description(s) for relation '{label}', not the {n} "
        "asked for: the other lines were empty, longer than {max_chars} characters or "
        "repeated an existing description."
    )
    ROC_W304 = (
        "Could not build the LLM '{model}' ({error}), so it was not called. Relation "
        "'{label}' keeps its {n_kept} description(s)."
    )
    ROC_W305 = (
        "Relation '{label}' has no description after the expansion; its name is used "
        "instead: {description!r}."
    )
    # -- annotate: ROC_W500-W509
    ROC_W500 = (
        "Input lines have a field {field!r}, which annotate writes ('relations' on "
        "annotated lines, 'error' on bad lines): there, the input value is replaced. "
        "Rename the field in the input to keep it."
    )
    # -- convert prodigy / export prodigy: ROC_W110-W119
    ROC_W110 = (
        "Skipped {n_errors} malformed Prodigy task(s) in {path} (on_error = \"skip\"); "
        "first ones: {examples}. The line numbers are in the returned stats under "
        "'errors'."
    )
    ROC_W111 = (
        "{n_missing} of {n_images} image path(s) in {path} are not files (first: "
        "{examples}); those docs are usable text-only. Relative paths are resolved "
        "against the images folder {images_dir} (CLI: --images-dir)."
    )
    ROC_W112 = (
        "{n_unanswered} task(s) in {path} have no 'answer' (first on line {line_no}), "
        "so they were not annotated in Prodigy (a file written by `export prodigy` is "
        "such a file). Only accepted tasks are converted: annotate them with "
        "rel.manual and export the dataset with `prodigy db-out`."
    )
    ROC_W113 = (
        "Could not encode the image of {n_failed} doc(s) for Prodigy (first: "
        "{reason}); their tasks have no 'image'."
    )
    # -- visualize: ROC_W400-W409
    ROC_W400 = (
        "{n} image(s) could not be read ({reason}); those docs are shown without their "
        "image. Check the files or bytes in doc._.image (for `visualize`, relative paths "
        "are resolved against --images-dir, by default the folder of DATA)."
    )
    ROC_W401 = (
        "Skipped {n} line(s) of {path} that `annotate` marked bad (they hold an "
        "\"error\" and no relations); first: {line_nos}."
    )
    ROC_W100 = (
        "Skipped {n_errors} malformed line(s) in {path} (on_error = \"skip\"); first "
        "ones: {examples}. The line numbers are in the returned stats under 'errors'."
    )
    ROC_W101 = (
        "{n_missing} of {n_docs} doc image(s) are missing from {images_dir}; those docs "
        "are usable text-only. First missing: {examples}."
    )


class Errors(metaclass=ErrorsWithCodes):
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
    ROC_E010 = "Relation '{label}' needs at least one non-empty description, name or alias."
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
    ROC_E300 = "Could not read the LLM config {source}: {reason}"
    ROC_E301 = (
        "The LLM config {source} has no [model] block naming a model, e.g. [model] "
        "with @llm_models = \"spacy.GPT-4.v3\"."
    )
    ROC_E302 = (
        "Unknown LLM '{name}': it is not in spacy-llm's llm_models registry. Use one "
        "of {available}, or register your own with @registry.llm_models(\"...\") "
        "(from spacy_llm.registry import registry) in a Python file passed with --code."
    )
    ROC_E303 = "The [model] block of {source} does not fit the LLM '{name}': {reason}"
    ROC_E304 = (
        "Could not read the descriptions {path}: {reason}. Give a JSON object "
        "{{label: [description, ...]}} (an empty list is allowed) or a .spacy corpus."
    )
    ROC_E305 = (
        "Could not read the corpus {path}: {reason}. Give a .spacy file with relation "
        "records in doc._.relations."
    )
    ROC_E306 = "The number of new descriptions per label must be at least 1, not {value!r}."
    ROC_E307 = "Could not use the prompt template {path}: {reason}"
    ROC_E308 = (
        "`descriptions expand` needs spacy-llm, which is not installed. Install it with "
        "pip install \"spacy-roc[llm]\"."
    )
    ROC_E309 = "Could not load the Python code {path}: {reason}"
    # -- annotate: ROC_E500-E509
    ROC_E500 = (
        "The line is not a JSON object ({reason}). Each line of an annotate input is an "
        "object {{\"text\": str, \"entities\": [{{\"start\": int, \"end\": int, "
        "\"label\": str}}, ...], ...}} in UTF-8."
    )
    ROC_E501 = "The line has no \"text\" string ({reason})."
    ROC_E502 = (
        "Entity {index} is malformed ({reason}). \"entities\" is a list of "
        "{{\"start\": int, \"end\": int, \"label\": str}} with character offsets, "
        "0 <= start < end <= len(text)."
    )
    ROC_E503 = (
        "Entity {index} [{start}, {end}) {text!r} does not start and end on token "
        "boundaries of the pipeline's tokenizer (tokens around it: {tokens}). Give the "
        "character offsets of whole tokens."
    )
    ROC_E504 = (
        "Entities {first} and {second} overlap, and the roc_relations component reads "
        "its entities from doc.ents (spans_key = null), which cannot hold overlapping "
        "spans. Remove one, or use a pipeline whose component has a spans_key."
    )
    ROC_E505 = (
        "\"pairs\" is malformed ({reason}). \"pairs\" is a list of [head, tail], each "
        "an index into \"entities\" or {{\"object\": i}} of \"objects\": two entities "
        "with different offsets, or an entity and an object."
    )
    ROC_E506 = (
        "The image cannot be read ({reason}). \"image\" is a path (a relative path is "
        "resolved against the input file's folder, or --images-dir), a "
        "data:image/...;base64, URI, or the base64 string of the image bytes."
    )
    ROC_E507 = (
        "Bad line {line_no} in {path}: [{code}] {reason} Without --strict, a bad line "
        "comes back in the output with an \"error\" field and the run goes on."
    )
    ROC_E508 = (
        "--backend ray needs Ray Data, which cannot be imported ({reason}). Install "
        "the extra: pip install \"spacy-roc[ray]\"."
    )
    ROC_E509 = "Cannot annotate: {reason}."
    ROC_E510 = "\"objects\" is malformed: {reason}"
    # -- convert prodigy / export prodigy: ROC_E110-E119
    ROC_E110 = (
        "Malformed Prodigy task on line {line_no} of {path}: {reason}. A rel.manual "
        "task has 'tokens' (text, ws), 'spans' (token_start, token_end inclusive, "
        "label) and 'relations' (head and child: the last token of each span). Pass "
        "on_error=\"skip\" (CLI: --on-error skip) to skip and report such tasks."
    )
    ROC_E111 = "The corpus {path} holds no docs; there is nothing to export."
    # -- visualize: ROC_E400-E409
    ROC_E400 = (
        "Unknown data format of {path}: `visualize` reads a .spacy file (or a folder of "
        "them) or a .jsonl file in the format of `python -m spacy_roc annotate`."
    )
    ROC_E401 = "Data file not found: {path}."
    ROC_E402 = (
        "Malformed line {line_no} in {path}: {reason}. Each line must be a JSON object "
        "{{\"text\": str, \"entities\": [{{\"start\", \"end\", \"label\"}}], \"image\": "
        "path or base64 (optional), \"relations\": [{{\"head\", \"tail\", \"label\", ...}}] "
        "(optional)}} with character offsets on token boundaries, as written by "
        "`python -m spacy_roc annotate`."
    )
    ROC_E403 = "{path} holds no docs; there is nothing to visualize."
    ROC_E404 = (
        "render() got {n_gold} gold entries for {n_docs} docs: give one per doc, a Doc "
        "with the same tokens or a list of relation records."
    )
    # -- convert more: ROC_E120-E129
    ROC_E120 = (
        "Malformed MORE line {line_no} in {path}: {reason}. Each line is a Python dict "
        "literal with 'token', 'h' ({{'name', 'pos'}}), 't' ({{'name': an object key of "
        "the image}}), 'img_id' and 'relation'. Pass on_error=\"skip\" (CLI: "
        "--on-error skip) to skip and report such lines."
    )
    ROC_E123 = "MORE objects {where}: {reason}."
    # -- zeroshot: ROC_E600-E609
    ROC_E600 = "FewRel data {path} is not valid: {reason}."
    ROC_E601 = (
        "Cannot split {n} relations into {m} unseen, {n_heldout} held out and at least two "
        "to train on: at least two must be unseen and two held out."
    )
    ROC_E602 = "Relation {label!r} has no entry in the relations file."
    ROC_E603 = (
        "The held-out data {path} labels pairs with {found} of the relations file's "
        "relations the model does not know: choosing on held-out relations needs pairs "
        "of at least two of them."
    )
    ROC_E604 = "A names file (pid2name.json) and a relations output go together: give both or neither."
    ROC_E605 = "The GZSL metric must be one of {metrics}, not {value!r}."
    ROC_E100 = (
        "Malformed MNRE line {line_no} in {path}: {reason}. Each line must be a Python "
        "dict literal with keys 'token', 'h', 't', 'img_id' and 'relation'. Pass "
        "on_error=\"skip\" (CLI: --on-error skip) to skip and report such lines."
    )
    ROC_E101 = "on_error must be \"raise\" or \"skip\", not {value!r}."
    ROC_E102 = "Input file not found: {path}."
    ROC_E103 = "Images folder not found: {path}."
    ROC_E025 = "Corpus path not found: {path}."
    ROC_E039 = (
        "Relation '{label}' names entity types for one side only. Give both head_types "
        "and tail_types, or neither: a relation's score matches both sides' types or none."
    )
    ROC_E040 = (
        "The description entry of relation '{label}' has unknown field(s) {fields}; an "
        "entry is a list of descriptions or an object with the fields {known}."
    )
    ROC_E041 = (
        "type_weight must be in [0, 0.5) (the context term keeps 1 - 2 * type_weight of "
        "the score), not {value!r}."
    )
    ROC_E045 = (
        "doc._.objects[{index}] is not an object record: {reason}. An object is "
        "{{\"box\": [x0, y0, x1, y1], \"name\": str or null, \"caption\": str or "
        "null}}, the box normalised to [0, 1] by the image's width and height."
    )
    ROC_E046 = (
        "A pair of two image objects: a relation joins a text entity and an object, "
        "or two text entities."
    )
    ROC_E047 = (
        "Pairs with an image object need spacy_roc.InlineMarkers.v1 as the pair "
        "encoder; {encoder} scores text entity pairs only."
    )
    ROC_E048 = (
        "The saved network's weights do not fit the model built from its config "
        "(missing {missing}, unexpected {unexpected}): it was saved by another "
        "version of spacy-roc or another config."
    )
    ROC_E049 = "The demo task must be one of {tasks}, not {value!r}."
    ROC_E050 = (
        "Relation {label!r}: 'sides' must be two of {kinds} (what its head and its tail "
        "are), not {value!r}."
    )
    ROC_E051 = (
        "The component's network weights are saved beside it in 'network_weights.pt', "
        "and that file is missing ({path}): copy the whole component folder."
    )
    ROC_E044 = "spacy_roc.sentence_pairs.v1: window must be an integer >= 0, not {value!r}."
    ROC_E043 = (
        "gamma (the calibration of trained against new relations) must be a finite "
        "number, not {value!r}."
    )
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
        "spacy_roc.LevitatedMarkers.v2 needs max_length of at least {minimum} "
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
