"""Relation descriptions written by a large language model, through spacy-llm.

``expand_descriptions`` asks a model of spacy-llm's ``llm_models`` registry for ``n``
new descriptions of every relation label, and adds them to the ones the label has.
The model is called directly, one prompt per label, with no spaCy pipeline around it.

- The prompt is a jinja2 template (``spacy_roc/prompts/descriptions.jinja2``). It gives
  the label, the entity types seen with it and up to three example sentences (both
  from a ``.spacy`` corpus), and the descriptions the label already has.
- The response is read as numbered lines (``1. ...``, ``1) ...``) or bullets
  (``- ...``); see ``parse_response``.
- Responses are cached on disk, keyed by the model config and the prompt, so a rerun
  calls nothing. The model is not even built when every prompt is cached.
- Nothing the input has is lost. A missing API key, a model that cannot be built or
  raises, and a response without usable lines each give a coded warning (ROC_W300,
  ROC_W304, ROC_W301, ROC_W302), and the label keeps the descriptions it had.
- The no-relation label is never sent to the model; when it has no description it
  gets ``NONE_DESCRIPTION``.

spacy-llm (the ``llm`` extra) and jinja2 are imported when used.
"""
import hashlib
import inspect
import json
import os
import re
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import srsly
from spacy.tokens import Doc

from ..descriptions import Descriptions, clean_descriptions, label_as_description
from ..formats.docbin import read_docbin
from ..errors import Errors, Warnings, warn
from ..extensions import validate_record

DEFAULT_N = 5
# A description is one sentence; longer lines are the model rambling.
MAX_DESCRIPTION_CHARS = 300
MAX_EXAMPLES = 3
MAX_TYPE_PAIRS = 5
SPANS_KEY = "entities"
DEFAULT_TEMPLATE = Path(__file__).parent / "prompts" / "descriptions.jinja2"
# "1. text", "12) text" or "- text"; "1.5 million" is not an item.
ITEM_PATTERN = re.compile(r"^\s*(?:\d+\s*[.)](?!\d)|-)\s*(.*?)\s*$")
QUOTES = "\"'“”"

PathLike = Union[str, Path]
Ask = Callable[[str], str]


@dataclass
class LabelContext:
    """What a corpus shows of a relation label, for its prompt.

    type_pairs (List[str]): "HEAD TYPE -> TAIL TYPE", most frequent first.
    examples (List[Dict[str, str]]): Sentences with the relation: "text", "head", "tail".
    """

    type_pairs: List[str] = field(default_factory=list)
    examples: List[Dict[str, str]] = field(default_factory=list)


class ModelFault(Exception):
    """The model could not answer: no API key, or an error building or calling it.
    Carries the coded warning to give for each label that keeps its descriptions."""

    def __init__(self, template: str, **fields: Any) -> None:
        super().__init__(template)
        self.template = template
        self.fields = fields

    def warning(self, label: str, n_kept: int) -> str:
        """The coded warning for a label that keeps its n_kept descriptions."""
        return self.template.format(label=label, n_kept=n_kept, **self.fields)


class ResponseCache:
    """Model responses on disk, one JSON file per prompt, named by the SHA-256 of the
    model config and the prompt. Without a folder, nothing is stored. An unreadable
    entry (e.g. a write cut short) counts as missing and is written again."""

    def __init__(self, path: Optional[PathLike], model_block: Dict[str, Any]) -> None:
        self.path = Path(path) if path is not None else None
        self.model_block = model_block
        self.model_key = json.dumps(model_block, sort_keys=True, default=str)

    def key(self, prompt: str) -> str:
        """The cache key of a prompt for this model config."""
        return hashlib.sha256(f"{self.model_key}\n{prompt}".encode("utf8")).hexdigest()

    def file(self, prompt: str) -> Path:
        """The cache file of a prompt (self.path must be set)."""
        return self.path / f"{self.key(prompt)}.json"

    def get(self, prompt: str) -> Optional[str]:
        """The cached response to a prompt, or None."""
        if self.path is None:
            return None
        file = self.file(prompt)
        try:
            entry = srsly.read_json(file) if file.is_file() else None
        except ValueError:
            return None
        response = entry.get("response") if isinstance(entry, dict) else None
        return response if isinstance(response, str) else None

    def set(self, prompt: str, response: str) -> None:
        """Store the response to a prompt (written to a temporary file, then moved)."""
        if self.path is None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.file(prompt)
        entry = {"model": self.model_block, "prompt": prompt, "response": response}
        srsly.write_json(target.with_suffix(".tmp"), entry)
        os.replace(target.with_suffix(".tmp"), target)


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
) -> Tuple[Descriptions, Dict[str, int]]:
    """Add n descriptions written by an LLM to every relation label.

    source (Union[str, Path]): A descriptions JSON {label: [description, ...]} (empty
        lists allowed), or a .spacy corpus whose relation labels are expanded.
    llm_config (Union[str, Path, Dict[str, Any]]): A spacy-llm config (file or dict)
        with a [model] block, e.g. @llm_models = "spacy.GPT-4.v3".
    n (int): New descriptions to ask for per label.
    examples (Optional[Union[str, Path]]): A .spacy corpus for the entity types and
        example sentences of the prompts; by default the source, if it is a corpus.
    none_label (str): The no-relation label, never sent to the model.
    cache_dir (Optional[Union[str, Path]]): Folder of the response cache; None: no cache.
    template (Optional[Union[str, Path]]): The jinja2 prompt template; by default
        spacy_roc/prompts/descriptions.jinja2.
    progress (bool): Show a progress bar over the labels.
    RETURNS (Tuple[Dict[str, List[str]], Dict[str, int]]): The descriptions, in the
        order of the source, and the number written by the model for each label.
    RAISES (ValueError): ROC_E300-E307 for bad input, before the model is called.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(Errors.ROC_E306.format(value=n))
    model_block = read_model_block(llm_config)
    prompt_template = load_template(template if template is not None else DEFAULT_TEMPLATE)
    given, docs = read_source(source, none_label)
    if examples is not None:
        docs = read_corpus(examples)
    contexts = label_contexts(docs, none_label)
    prompts = {
        label: render_prompt(prompt_template, label, contexts.get(label, LabelContext()), texts, n)
        for label, texts in given.items()
        if label != none_label
    }
    cache = ResponseCache(cache_dir, model_block)
    return expand_labels(given, prompts, cache, n, none_label, progress)


def expand_labels(
    given: Descriptions,
    prompts: Dict[str, str],
    cache: ResponseCache,
    n: int,
    none_label: str,
    progress: bool,
) -> Tuple[Descriptions, Dict[str, int]]:
    """Expand every label that has a prompt; see expand_descriptions. The model is
    built only if some prompt has no cached response."""
    from tqdm import tqdm

    cached = {label: cache.get(prompt) for label, prompt in prompts.items()}
    ask = model_asker(cache.model_block) if None in cached.values() else None
    result: Descriptions = {}
    n_new: Dict[str, int] = {}
    for label in tqdm(given, desc="labels", unit="label", disable=not progress):
        texts = given[label]
        if label in prompts:
            texts = expand_label(label, texts, prompts[label], cached[label] or ask, cache, n)
        n_new[label] = len(texts) - len(given[label])
        result[label] = texts if texts else [_fallback(label, none_label)]
    return result, n_new


def expand_label(
    label: str, texts: List[str], prompt: str, answer: Union[str, Ask], cache: ResponseCache, n: int
) -> List[str]:
    """The label's descriptions followed by up to n new ones from the response.

    label (str): The relation label.
    texts (List[str]): Its descriptions.
    prompt (str): Its prompt.
    answer (Union[str, Callable[[str], str]]): The cached response, or a function
        that asks the model one prompt and raises ModelFault.
    cache (ResponseCache): Where a new, usable response is stored.
    n (int): New descriptions to add.
    RETURNS (List[str]): The descriptions; just `texts` after a fault (with a warning).
    """
    if callable(answer):
        try:
            response = answer(prompt)
        except ModelFault as fault:
            warn(fault.warning(label, len(texts)))
            return list(texts)
    else:
        response = answer
    items = parse_response(response)
    if not items:
        fields = {"n_kept": len(texts), "excerpt": response[:200], "max_chars": MAX_DESCRIPTION_CHARS}
        warn(Warnings.ROC_W302.format(label=label, **fields))
        return list(texts)
    if callable(answer):
        cache.set(prompt, response)
    added = new_descriptions(items, texts, n)
    if len(added) < n:
        fields = {"n_new": len(added), "n": n, "max_chars": MAX_DESCRIPTION_CHARS}
        warn(Warnings.ROC_W303.format(label=label, **fields))
    return [*texts, *added]


def _fallback(label: str, none_label: str) -> str:
    """The description of a label left without any: NONE_DESCRIPTION for the
    no-relation label, else its name (with a warning)."""
    description = label_as_description(label, none_label)
    if label != none_label:
        warn(Warnings.ROC_W305.format(label=label, description=description))
    return description


# -- the response ---------------------------------------------------------------------


def parse_response(text: str) -> List[str]:
    """The descriptions listed in a response: the text of every line that starts
    with "1.", "1)" or "-", stripped (surrounding quotes too), in order, without
    empty ones (or ones without a letter), ones longer than MAX_DESCRIPTION_CHARS
    and repeats. Other lines
    (a preamble, a closing remark) are ignored.

    text (str): The model's response.
    RETURNS (List[str]): The descriptions; empty if none is found.
    """
    items: List[str] = []
    seen = set()
    for line in text.splitlines():
        match = ITEM_PATTERN.match(line)
        item = _unquote(match.group(1)) if match else ""
        if _usable(item) and _norm(item) not in seen:
            items.append(item)
            seen.add(_norm(item))
    return items


def new_descriptions(items: Sequence[str], existing: Sequence[str], n: int) -> List[str]:
    """The first n items that repeat no existing description (ignoring case, spacing
    and a final full stop).

    items (Sequence[str]): Parsed descriptions.
    existing (Sequence[str]): The label's descriptions.
    n (int): At most this many are returned.
    RETURNS (List[str]): The new descriptions.
    """
    known = {_norm(text) for text in existing}
    return [item for item in items if _norm(item) not in known][:n]


def _usable(item: str) -> bool:
    """Not empty, not a rule like "---", and not longer than MAX_DESCRIPTION_CHARS."""
    return any(char.isalpha() for char in item) and len(item) <= MAX_DESCRIPTION_CHARS


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] in QUOTES and text[-1] in QUOTES:
        return text[1:-1].strip()
    return text.strip()


def _norm(text: str) -> str:
    return " ".join(text.split()).rstrip(".").casefold()


# -- the model ------------------------------------------------------------------------


def _llm_registry():
    """spacy-llm's registry (importing spacy-llm registers its models)."""
    try:
        from spacy_llm.registry import registry
    except ImportError as err:
        raise ImportError(Errors.ROC_E308) from err
    return registry


def load_code(path: PathLike) -> None:
    """Import a Python file, e.g. one that registers a model in llm_models, the way
    `spacy train --code` does.

    path (Union[str, Path]): The Python file.
    RAISES (ValueError): ROC_E309 if it is missing or raises.
    """
    from spacy.util import import_file

    _llm_registry()  # so that the file can use spacy.registry.llm_models
    if not Path(path).is_file():
        raise ValueError(Errors.ROC_E309.format(path=path, reason="no such file"))
    try:
        import_file("python_code", path)
    except Exception as err:
        raise ValueError(Errors.ROC_E309.format(path=path, reason=_describe(err))) from err


def read_model_block(source: Union[PathLike, Dict[str, Any]]) -> Dict[str, Any]:
    """The [model] block of a spacy-llm config, checked against the registry
    without building the model (so without any network call).

    source (Union[str, Path, Dict[str, Any]]): A config file, or the config as a dict.
    RETURNS (Dict[str, Any]): The [model] block, as written.
    RAISES (ValueError): ROC_E300-E303; ImportError: ROC_E308 without spacy-llm.
    """
    from confection import ConfigValidationError

    registry = _llm_registry()
    config = source if isinstance(source, dict) else _load_config(source)
    block = config.get("model")
    if not isinstance(block, dict) or not isinstance(block.get("@llm_models"), str):
        raise ValueError(Errors.ROC_E301.format(source=source))
    name = block["@llm_models"]
    if not registry.has("llm_models", name):
        available = ", ".join(sorted(registry.llm_models.get_all()))
        raise ValueError(Errors.ROC_E302.format(name=name, available=available))
    try:
        registry.fill({"model": dict(block)}, validate=True)
    except ConfigValidationError as err:
        raise ValueError(Errors.ROC_E303.format(source=source, name=name, reason=err)) from err
    return dict(block)


def _load_config(path: PathLike) -> Dict[str, Any]:
    """A config file, interpolated; ROC_E300 if it is missing or malformed."""
    from spacy.util import load_config

    if not Path(path).is_file():
        raise ValueError(Errors.ROC_E300.format(source=path, reason="no such file"))
    try:
        return load_config(path, interpolate=True)
    except ValueError as err:
        raise ValueError(Errors.ROC_E300.format(source=path, reason=err)) from err


def model_asker(model_block: Dict[str, Any]) -> Ask:
    """Build the model and return a function that asks it one prompt. If the model
    cannot be built, the function raises that fault for every prompt.

    model_block (Dict[str, Any]): The [model] block of the config.
    RETURNS (Callable[[str], str]): Prompt -> response; raises ModelFault.
    """
    try:
        model = build_model(model_block)
    except ModelFault as fault:
        return partial(_raise, fault)
    return partial(ask_model, model, model_block["@llm_models"])


def build_model(model_block: Dict[str, Any]) -> Callable:
    """Build the model of a [model] block. A REST model's API key is checked first:
    spacy-llm builds REST models with a request to the API, even without a key.

    model_block (Dict[str, Any]): The [model] block of the config.
    RETURNS (Callable): The model: prompts per doc -> responses per doc.
    RAISES (ModelFault): ROC_W300 without the API key, ROC_W304 if building fails.
    """
    registry = _llm_registry()
    name = model_block["@llm_models"]
    reason = missing_api_key(registry.llm_models.get(name))
    if reason is not None:
        raise ModelFault(Warnings.ROC_W300, model=name, reason=reason)
    try:
        return registry.resolve({"model": dict(model_block)})["model"]
    except Exception as err:
        raise ModelFault(Warnings.ROC_W304, model=name, error=_describe(err)) from err


def missing_api_key(factory: Callable) -> Optional[str]:
    """Why the REST model that a registered function builds has no API key, in
    spacy-llm's words; None if it has one or is no REST model. The model class reads
    its key in its `credentials` property and only warns when it is missing; the
    property is read here on an instance that is not initialized, so no request is
    made. Functions without a REST class as return annotation are not checked.

    factory (Callable): The registered function of the model.
    RETURNS (Optional[str]): spacy-llm's warning about the missing key, or None.
    """
    from spacy_llm.models.rest.base import REST

    cls = inspect.signature(factory).return_annotation
    if not (isinstance(cls, type) and issubclass(cls, REST)):
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _ = cls.__new__(cls).credentials
        except Exception:
            pass  # some classes assert the key after warning about it
    messages = [str(w.message) for w in caught if "API key" in str(w.message)]
    return messages[0] if messages else None


def ask_model(model: Callable, name: str, prompt: str) -> str:
    """Ask a spacy-llm model one prompt: models take prompts per doc, an
    Iterable[Iterable[str]], and return responses per doc in the same nesting.

    model (Callable): The model.
    name (str): Its registered name, for the warning.
    prompt (str): The prompt.
    RETURNS (str): The response.
    RAISES (ModelFault): ROC_W301 if the model raises or returns no text.
    """
    try:
        response = next(iter(next(iter(model([[prompt]])))))
    except Exception as err:
        raise ModelFault(Warnings.ROC_W301, model=name, error=_describe(err)) from err
    if not isinstance(response, str):
        error = f"no error but returned a {type(response).__name__}, not a str,"
        raise ModelFault(Warnings.ROC_W301, model=name, error=error)
    return response


def _raise(fault: ModelFault, prompt: str) -> str:
    raise fault


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


# -- the input and the prompt ---------------------------------------------------------


def read_source(source: PathLike, none_label: str) -> Tuple[Descriptions, List[Doc]]:
    """The descriptions to expand, and the docs of the source if it is a corpus.

    source (Union[str, Path]): A descriptions JSON or a .spacy corpus; a corpus gives
        its relation labels, with no description, the no-relation label first.
    none_label (str): The no-relation label.
    RETURNS (Tuple[Dict[str, List[str]], List[Doc]]): The descriptions and the docs.
    RAISES (ValueError): ROC_E304 or ROC_E305 for a missing or malformed source.
    """
    if Path(source).suffix != ".spacy":
        return read_input_descriptions(source), []
    docs = read_corpus(source)
    labels = {label for _, _, _, label in iter_relations(docs)}
    return {label: [] for label in [none_label, *sorted(labels - {none_label})]}, docs


def read_input_descriptions(path: PathLike) -> Descriptions:
    """Read a descriptions JSON in which a label may have no description.

    path (Union[str, Path]): The JSON file {label: [description, ...]}.
    RETURNS (Dict[str, List[str]]): The cleaned descriptions, in file order.
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
    return {str(label): _input_texts(path, str(label), texts) for label, texts in data.items()}


def _input_texts(path: PathLike, label: str, texts: Any) -> List[str]:
    """A label's descriptions: a string or a list of strings, cleaned; [] if none."""
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        reason = f"the value of '{label}' is not a list of strings"
        raise ValueError(Errors.ROC_E304.format(path=path, reason=reason))
    return clean_descriptions(label, texts) if any(t.strip() for t in texts) else []


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


def label_contexts(docs: Sequence[Doc], none_label: str) -> Dict[str, LabelContext]:
    """The entity types and the first MAX_EXAMPLES distinct example sentences of
    every label in the docs but the no-relation label.

    docs (Sequence[Doc]): The docs, with entities in doc.spans["entities"] or doc.ents.
    none_label (str): The no-relation label.
    RETURNS (Dict[str, LabelContext]): The context of each label.
    """
    type_pairs: Dict[str, Counter] = defaultdict(Counter)
    contexts: Dict[str, LabelContext] = defaultdict(LabelContext)
    types_of = {id(doc): entity_types(doc) for doc in docs}
    for doc, head, tail, label in iter_relations(docs):
        if label == none_label:
            continue
        types = types_of[id(doc)]
        if head in types and tail in types:
            type_pairs[label][f"{types[head]} -> {types[tail]}"] += 1
        example = {
            "text": " ".join(doc.text.split()),
            "head": doc[head[0] : head[1]].text,
            "tail": doc[tail[0] : tail[1]].text,
        }
        examples = contexts[label].examples
        if len(examples) < MAX_EXAMPLES and example not in examples:
            examples.append(example)
    for label, counts in type_pairs.items():
        contexts[label].type_pairs = [pair for pair, _ in counts.most_common(MAX_TYPE_PAIRS)]
    return dict(contexts)


def entity_types(doc: Doc) -> Dict[Tuple[int, int], str]:
    """The label of every labelled entity, by its token offsets: doc.ents, then the
    span group "entities" (which may hold overlapping mentions)."""
    spans = list(doc.ents) + (list(doc.spans[SPANS_KEY]) if SPANS_KEY in doc.spans else [])
    return {(span.start, span.end): span.label_ for span in spans if span.label_}


def load_template(path: PathLike):
    """The jinja2 prompt template in a file.

    path (Union[str, Path]): The template file.
    RETURNS (jinja2.Template): The template.
    RAISES (ValueError): ROC_E307 if it cannot be read or parsed.
    """
    import jinja2

    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    try:
        return environment.from_string(Path(path).read_text(encoding="utf8"))
    except (OSError, jinja2.TemplateError) as err:
        raise ValueError(Errors.ROC_E307.format(path=path, reason=_describe(err))) from err


def render_prompt(template, label: str, context: LabelContext, descriptions: List[str], n: int) -> str:
    """The prompt for a label.

    template (jinja2.Template): The prompt template.
    label (str): The relation label.
    context (LabelContext): Its entity types and example sentences.
    descriptions (List[str]): Its descriptions.
    n (int): New descriptions to ask for.
    RETURNS (str): The prompt.
    RAISES (ValueError): ROC_E307 if the template uses an unknown variable.
    """
    import jinja2

    try:
        prompt = template.render(
            label=label,
            n=n,
            type_pairs=context.type_pairs,
            examples=context.examples,
            descriptions=descriptions,
        )
    except jinja2.TemplateError as err:
        raise ValueError(Errors.ROC_E307.format(path="the template", reason=_describe(err))) from err
    return prompt.strip()
