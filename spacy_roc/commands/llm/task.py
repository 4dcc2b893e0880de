"""The spacy-llm task spacy_roc.RelationDescriptions.v1: new descriptions of a relation.

Each doc the `llm` pipe gets is a relation request (`request_doc`): its text is a
digest of the request, then the JSON of the label, the entity types seen with it,
example sentences, the descriptions it has and, when its entry gives them, its name
and aliases. spacy-llm's cache keys a doc by the sum of its tokens' hashes, which
ignores their order ("PERSON -> ORG" and "ORG -> PERSON" sum alike); the digest
token (of the JSON text, so of its order) makes a request whose label, types,
examples, descriptions, name or aliases changed, or changed order, a new key: it is
asked again, and an unchanged one is not.
The task renders one prompt per request (a request is never sharded) and sets the new
descriptions on `doc._.roc_descriptions`.
"""
import hashlib
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

import jinja2
import jinja2.sandbox
import srsly
from spacy.language import Language
from spacy.tokens import Doc

from .parser import new_descriptions, parse_response

TEMPLATE_PATH = Path(__file__).parent / "descriptions.v1.jinja"
DEFAULT_TEMPLATE_V1 = TEMPLATE_PATH.read_text(encoding="utf8")
FIELD = "roc_descriptions"


class UnusableResponse(ValueError):
    """A response that lists no description. Raised from parse_responses, so the
    `llm` pipe does not cache it and a rerun asks again."""

    def __init__(self, response: str) -> None:
        super().__init__(f"The response lists no description: {response[:200]!r}")
        self.response = response


def request_doc(
    nlp: Language,
    label: str,
    descriptions: Sequence[str],
    type_pairs: Sequence[str] = (),
    examples: Sequence[Dict[str, str]] = (),
    name: Optional[str] = None,
    aliases: Sequence[str] = (),
) -> Doc:
    """The request for new descriptions of a relation, as a doc for the `llm` pipe.

    nlp (Language): Its tokenizer makes the doc.
    label (str): The relation label.
    descriptions (Sequence[str]): Its descriptions.
    type_pairs (Sequence[str]): "HEAD TYPE -> TAIL TYPE" seen with it.
    examples (Sequence[Dict[str, str]]): Sentences with it: "text", "head", "tail".
    name (Optional[str]): Its name, if its entry gives one.
    aliases (Sequence[str]): Its other names, if its entry gives some.
    RETURNS (Doc): The doc, whose text is the request's digest and the request as
        JSON (name and aliases only when given).
    """
    request = {"label": label, "descriptions": list(descriptions), "type_pairs": list(type_pairs), "examples": list(examples)}
    if name:
        request["name"] = name
    if aliases:
        request["aliases"] = list(aliases)
    text = srsly.json_dumps(request, sort_keys=True)
    return nlp.make_doc(f"{request_digest(text)} {text}")


def request_digest(text: str) -> str:
    """A token that hashes the request's text, order included (see the module
    docstring)."""
    return "request-" + hashlib.sha256(text.encode("utf8")).hexdigest()[:24]


def read_request(doc: Doc) -> Dict[str, Any]:
    """The request of a doc made by request_doc."""
    return srsly.json_loads(doc.text.split(" ", 1)[1])


class RelationDescriptionsTask:
    """Asks for n new descriptions per relation request; see the module docstring."""

    def __init__(self, template: str, n: int) -> None:
        """template (str): The jinja2 prompt template (rendered with trim_blocks and
            lstrip_blocks; an undefined variable is an error), with the variables
            label, n, type_pairs, examples, descriptions, name ("" if not given) and
            aliases ([] if not given).
        n (int): New descriptions to ask for per request.
        """
        self._template = template
        self._n = n
        environment = jinja2.sandbox.SandboxedEnvironment(
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
        )
        self._jinja = environment.from_string(template)
        if not Doc.has_extension(FIELD):
            Doc.set_extension(FIELD, default=None)

    def generate_prompts(
        self, docs: Iterable[Doc], context_length: Optional[int] = None
    ) -> Iterable[Tuple[Iterable[str], Iterable[Doc]]]:
        """One prompt per request doc; context_length is unused (no sharding)."""
        for doc in docs:
            yield [self.render(doc)], [doc]

    def render(self, doc: Doc) -> str:
        """The prompt of a request doc."""
        return self._jinja.render(**{"n": self._n, "name": "", "aliases": [], **read_request(doc)}).strip()

    def parse_responses(
        self, shards: Iterable[Iterable[Doc]], responses: Iterable[Iterable[str]]
    ) -> Iterable[Doc]:
        """Set doc._.roc_descriptions: the first n listed descriptions that the
        request does not have (see parser.py). RAISES (UnusableResponse): If a
        response lists none."""
        for shards_for_doc, responses_for_doc in zip(shards, responses):
            doc, response = next(iter(shards_for_doc)), next(iter(responses_for_doc))
            items = parse_response(response)
            if not items:
                raise UnusableResponse(response)
            doc._.set(FIELD, new_descriptions(items, read_request(doc)["descriptions"], self._n))
            yield doc

    @property
    def prompt_template(self) -> str:
        """The template, which spacy-llm's cache stores next to the responses."""
        return self._template

    @property
    def n(self) -> int:
        return self._n
