"""`descriptions expand`: n descriptions written by an LLM for every relation label.

Each label but the no-relation label becomes a request of the spacy-llm task
spacy_roc.RelationDescriptions.v1 (task.py), run through spacy-llm's `llm` pipe and
cache (spacy.BatchCache.v1, in a folder per model config and task config) with any
model of llm_models (model.py). Nothing the input has is lost: a label whose request
fails keeps its descriptions, with a coded warning (ROC_W300-W305). An entry of the
input in object form (spacy_roc.descriptions) keeps its name, aliases and entity
types, and is written back as an object with the new descriptions appended.
"""
import hashlib
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import jinja2
import spacy
import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy_llm.pipeline import LLMWrapper
from spacy_llm.pipeline.llm import make_llm
from spacy_llm.registry import registry

from ...descriptions import FIELDS, clean_descriptions, label_as_description, label_name, relation_from_json
from ...errors import Errors, Warnings, warn
from ...extensions import validate_record
from ...formats.codec import SPANS_KEY
from ...formats.docbin import read_docbin
from .model import LazyModel, ModelFault, PathLike, describe, read_model_block
from .parser import MAX_DESCRIPTION_CHARS
from .registry import DEFAULT_N, make_descriptions_task
from .task import FIELD, TEMPLATE_PATH, RelationDescriptionsTask, UnusableResponse, request_doc

MAX_EXAMPLES = 3
MAX_TYPE_PAIRS = 5

Entry = Union[List[str], Dict[str, Any]]


@dataclass
class Given:
    """A label's entry of the input.

    descriptions (List[str]): Its descriptions (may be empty).
    fields (Optional[Dict[str, Any]]): The other fields of an entry in object form
        (name, aliases, head_types, tail_types; cleaned); None for a list.
    """

    descriptions: List[str]
    fields: Optional[Dict[str, Any]] = None

    def entry(self, descriptions: List[str]) -> Entry:
        """The output entry, in the form of the input, with these descriptions."""
        if self.fields is None:
            return descriptions
        given = {**self.fields, "descriptions": descriptions}
        return {name: given[name] for name in FIELDS if name in given}

    def has_names(self) -> bool:
        """Whether the entry gives a name or aliases, which it is retrieved by even
        without a description."""
        return bool(self.fields and (self.fields.get("name") or self.fields.get("aliases")))


def expand_descriptions(
    source: PathLike,
    llm_config: Union[PathLike, Dict[str, Any]],
    *,
    n: int = DEFAULT_N,
    examples: Optional[PathLike] = None,
    none_label: str = "None",
    cache_dir: Optional[PathLike] = None,
    template: Optional[PathLike] = None,
    progress: bool = False,
) -> Tuple[Dict[str, Entry], Dict[str, int]]:
    """Add n descriptions written by an LLM to every relation label.

    source (Union[str, Path]): A descriptions JSON whose entries are lists of
        descriptions or objects (see spacy_roc.descriptions; a label may have no
        description), or a .spacy corpus whose relation labels are expanded.
    llm_config (Union[str, Path, Dict[str, Any]]): A spacy-llm config (file or dict)
        with a [model] block, e.g. @llm_models = "spacy.GPT-4.v3".
    n (int): New descriptions to ask for per label.
    examples (Optional[Union[str, Path]]): A .spacy corpus for the entity types and
        example sentences of the prompts; by default the source, if it is a corpus.
    none_label (str): The no-relation label, never sent to the model.
    cache_dir (Optional[Union[str, Path]]): Folder of spacy-llm's cache; None: no cache.
    template (Optional[Union[str, Path]]): The jinja2 prompt template; by default
        the task's descriptions.v1.jinja.
    progress (bool): Show a progress bar over the labels.
    RETURNS (Tuple[Dict[str, Union[List[str], Dict[str, Any]]], Dict[str, int]]): The
        entries of the output, in the order of the source (a list of descriptions
        for a label given as a list or by a corpus, an object with all its fields
        for one given as an object), and the number written by the model per label.
    RAISES (ValueError): ROC_E300-E307 for bad input, before the model is called.
    """
    model_block = read_model_block(llm_config)
    given, docs = read_source(source, none_label)
    if examples is not None:
        docs = read_corpus(examples)
    contexts = label_contexts(docs, none_label)
    nlp = spacy.blank("xx")
    requests = {
        label: request_for(nlp, label, entry, contexts.get(label, {}))
        for label, entry in given.items()
        if label != none_label
    }
    task = build_task(template if template is not None else TEMPLATE_PATH, n, requests.values())
    llm = build_llm(nlp, task, model_block, cache_dir)
    return expand_labels(given, requests, llm, n, none_label, progress)


def request_for(nlp: Language, label: str, entry: Given, context: Dict[str, list]) -> Doc:
    """The request doc of a label: its descriptions, the name and aliases its entry
    gives, and its context (label_contexts)."""
    fields = entry.fields or {}
    return request_doc(nlp, label, entry.descriptions, name=fields.get("name"), aliases=fields.get("aliases", ()), **context)


def build_task(template: PathLike, n: int, requests: Sequence[Doc]) -> RelationDescriptionsTask:
    """The task, with every prompt rendered once, so that a broken template fails
    before any call.

    template (Union[str, Path]): The prompt template file.
    n (int): New descriptions per label.
    requests (Sequence[Doc]): The request docs.
    RETURNS (RelationDescriptionsTask): The task.
    RAISES (ValueError): ROC_E306 for a bad n, ROC_E307 for a bad template.
    """
    try:
        task = make_descriptions_task(template=Path(template).read_text(encoding="utf8"), n=n)
        for request in requests:
            task.render(request)
    except (OSError, UnicodeDecodeError, jinja2.TemplateError) as err:
        raise ValueError(Errors.ROC_E307.format(path=template, reason=describe(err))) from err
    return task


def build_llm(nlp: Language, task: RelationDescriptionsTask, model_block: Dict[str, Any], cache_dir: Optional[PathLike]) -> LLMWrapper:
    """spacy-llm's `llm` pipe for the task, with spacy.BatchCache.v1 in a folder of
    cache_dir per model config and task config; every request is stored at once
    (batch_size 1). RETURNS (LLMWrapper): The pipe."""
    path = None
    if cache_dir is not None:
        key = srsly.json_dumps({"model": model_block, "template": task.prompt_template, "n": task.n}, sort_keys=True)
        path = Path(cache_dir) / hashlib.sha256(key.encode("utf8")).hexdigest()[:16]
    cache = registry.llm_misc.get("spacy.BatchCache.v1")(path=path, batch_size=1, max_batches_in_mem=4)
    with warnings.catch_warnings():
        # A request is never sharded, so the model's context length does not matter.
        warnings.filterwarnings("ignore", message="Task supports sharding", category=UserWarning)
        return make_llm(nlp, "llm", task=task, model=LazyModel(model_block), cache=cache, save_io=False, validate_types=True)


def expand_labels(
    given: Dict[str, Given], requests: Dict[str, Doc], llm: LLMWrapper, n: int, none_label: str, progress: bool
) -> Tuple[Dict[str, Entry], Dict[str, int]]:
    """Expand every label that has a request; see expand_descriptions. A label left
    without any text (no description, name or alias) gets its fallback."""
    from tqdm import tqdm

    result: Dict[str, Entry] = {}
    n_new: Dict[str, int] = {}
    for label, entry in tqdm(given.items(), desc="labels", unit="label", disable=not progress):
        added = ask(llm, label, requests[label], len(entry.descriptions), n) if label in requests else []
        texts = [*entry.descriptions, *added]
        n_new[label] = len(added)
        result[label] = entry.entry(texts if texts or entry.has_names() else [_fallback(label, none_label)])
    return result, n_new


def ask(llm: LLMWrapper, label: str, request: Doc, n_kept: int, n: int) -> List[str]:
    """The new descriptions of a label from the pipe; none if the model failed or
    the response lists none (with a warning that the label keeps its n_kept)."""
    try:
        added = list(llm(request)._.get(FIELD))
    except ModelFault as fault:
        warn(fault.warning(label, n_kept))
        return []
    except UnusableResponse as err:
        excerpt = err.response[:200]
        warn(Warnings.ROC_W302.format(label=label, n_kept=n_kept, excerpt=excerpt, max_chars=MAX_DESCRIPTION_CHARS))
        return []
    if len(added) < n:
        warn(Warnings.ROC_W303.format(label=label, n_new=len(added), n=n, max_chars=MAX_DESCRIPTION_CHARS))
    return added


def _fallback(label: str, none_label: str) -> str:
    """The description of a label left without any: NONE_DESCRIPTION for the
    no-relation label, else its name (with a warning)."""
    description = label_as_description(label, none_label)
    if label != none_label:
        warn(Warnings.ROC_W305.format(label=label, description=description))
    return description


# -- the input ------------------------------------------------------------------------


def read_source(source: PathLike, none_label: str) -> Tuple[Dict[str, Given], List[Doc]]:
    """The entries to expand, and the docs of the source if it is a corpus.

    source (Union[str, Path]): A descriptions JSON or a .spacy corpus; a corpus gives
        its relation labels, with no description, the no-relation label first.
    none_label (str): The no-relation label.
    RETURNS (Tuple[Dict[str, Given], List[Doc]]): The entries and the docs.
    RAISES (ValueError): ROC_E304 or ROC_E305 for a missing or malformed source.
    """
    if Path(source).suffix != ".spacy":
        return read_input_descriptions(source, none_label), []
    docs = read_corpus(source)
    labels = {label for _, _, _, label in iter_relations(docs)}
    return {label: Given([]) for label in [none_label, *sorted(labels - {none_label})]}, docs


def read_input_descriptions(path: PathLike, none_label: str = "None") -> Dict[str, Given]:
    """Read a descriptions JSON in which a label may have no description.

    path (Union[str, Path]): The JSON file: {label: [description, ...]} or, per label,
        an object with the fields of spacy_roc.descriptions.Relation.
    none_label (str): The no-relation label.
    RETURNS (Dict[str, Given]): The cleaned entries, in file order.
    RAISES (ValueError): ROC_E304 if the file is missing or malformed.
    """
    if not Path(path).is_file():
        raise ValueError(Errors.ROC_E304.format(path=path, reason="no such file"))
    try:
        data = srsly.read_json(path)
    except ValueError as err:
        raise ValueError(Errors.ROC_E304.format(path=path, reason=f"not valid JSON ({err})")) from err
    if not isinstance(data, dict):
        reason = f"the file holds a JSON {type(data).__name__}, not an object"
        raise ValueError(Errors.ROC_E304.format(path=path, reason=reason))
    return {str(label): _input_entry(path, str(label), entry, none_label) for label, entry in data.items()}


def _input_entry(path: PathLike, label: str, entry: Any, none_label: str) -> Given:
    """A label's entry: a string or a list of strings, or an object."""
    if isinstance(entry, dict):
        return _input_object(path, label, entry, none_label)
    return Given(_input_texts(path, label, entry, f"the value of '{label}'"))


def _input_texts(path: PathLike, label: str, texts: Any, what: str) -> List[str]:
    """A string or a list of strings, cleaned; [] if none (ROC_E304 otherwise)."""
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise ValueError(Errors.ROC_E304.format(path=path, reason=f"{what} is not a list of strings"))
    return clean_descriptions(label, texts) if any(t.strip() for t in texts) else []


def _input_object(path: PathLike, label: str, entry: Dict[str, Any], none_label: str) -> Given:
    """An entry in object form, checked by relation_from_json (unknown fields:
    ROC_E040, types for one side only: ROC_E039, given as the reason of ROC_E304); it
    may have no description, name or alias."""
    if not isinstance(entry.get("name", ""), str):
        raise ValueError(Errors.ROC_E304.format(path=path, reason=f"the name of '{label}' is not a string"))
    lists = {
        key: _input_texts(path, label, value, f"'{key}' of '{label}'")
        for key, value in entry.items()
        if key in FIELDS and key != "name"
    }
    try:  # with a name, so that an entry without any text passes
        relation_from_json(label, {**entry, **lists, "name": label_name(label, none_label)}, none_label)
    except ValueError as err:
        raise ValueError(Errors.ROC_E304.format(path=path, reason=err)) from err
    fields = {key: value for key, value in lists.items() if key != "descriptions"}
    if "name" in entry:
        fields["name"] = entry["name"].strip()
    return Given(lists.get("descriptions", []), fields)


def read_corpus(path: PathLike) -> List[Doc]:
    """The docs of a .spacy corpus.

    path (Union[str, Path]): The .spacy file.
    RETURNS (List[Doc]): The docs, with their relation records.
    RAISES (ValueError): ROC_E305 if the file is missing or not a .spacy file.
    """
    if not Path(path).is_file():
        raise ValueError(Errors.ROC_E305.format(path=path, reason="no such file"))
    try:
        return read_docbin(path)
    except ValueError as err:
        raise ValueError(Errors.ROC_E305.format(path=path, reason=err)) from err


def iter_relations(docs: Sequence[Doc]) -> Iterator[Tuple[Doc, Tuple[int, int], Tuple[int, int], str]]:
    """(doc, head offsets, tail offsets, label) of every relation record.

    docs (Sequence[Doc]): The docs.
    RAISES (ValueError): ROC_E015 for a malformed record.
    """
    for doc in docs:
        for record in doc._.relations:
            head, tail = validate_record(doc, record)
            yield doc, head, tail, record["label"]


def label_contexts(docs: Sequence[Doc], none_label: str) -> Dict[str, Dict[str, list]]:
    """The entity types ("type_pairs", most frequent first) and the first
    MAX_EXAMPLES distinct example sentences ("examples": "text", "head", "tail") of
    every label in the docs but the no-relation label.

    docs (Sequence[Doc]): The docs, with entities in doc.spans["entities"] or doc.ents.
    none_label (str): The no-relation label.
    RETURNS (Dict[str, Dict[str, list]]): The context of each label.
    """
    type_pairs: Dict[str, Counter] = defaultdict(Counter)
    examples: Dict[str, List[Dict[str, str]]] = defaultdict(list)
    types_of = {id(doc): entity_types(doc) for doc in docs}
    for doc, head, tail, label in iter_relations(docs):
        if label == none_label:
            continue
        types = types_of[id(doc)]
        if head in types and tail in types:
            type_pairs[label][f"{types[head]} -> {types[tail]}"] += 1
        example = {"text": " ".join(doc.text.split()), "head": doc[slice(*head)].text, "tail": doc[slice(*tail)].text}
        if len(examples[label]) < MAX_EXAMPLES and example not in examples[label]:
            examples[label].append(example)
    return {
        label: {"type_pairs": [pair for pair, _ in type_pairs[label].most_common(MAX_TYPE_PAIRS)], "examples": examples[label]}
        for label in examples
    }


def entity_types(doc: Doc) -> Dict[Tuple[int, int], str]:
    """The label of every labelled entity, by its token offsets: doc.ents, then the
    span group "entities" (which may hold overlapping mentions)."""
    spans = list(doc.ents) + (list(doc.spans[SPANS_KEY]) if SPANS_KEY in doc.spans else [])
    return {(span.start, span.end): span.label_ for span in spans if span.label_}
