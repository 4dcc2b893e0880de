"""Read FewRel 1.0 (Han et al., EMNLP 2018) into Docs with relation records.

Input: a JSON object `{relation id: [instance, ...]}`; an instance has `tokens`, and
`h` and `t` as `[name, Wikidata id, [[token index, ...], ...]]` (one list per mention;
the first is used). `pid2name.json` gives each relation id `[name, description]`.

Output: one Doc per instance, words = the tokens; head and tail go into the span
group "entities" with the label "ENTITY" (FewRel gives no entity types), and
`doc._.relations` holds the head -> tail record with the relation id as its label.
"""
import json
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from ..errors import Errors
from ..extensions import install_extensions, make_record
from .codec import ENTITY_LABEL, SPANS_KEY

Instance = Dict[str, object]


def read_fewrel(path: Union[str, Path]) -> Dict[str, List[Instance]]:
    """The instances of each relation in a FewRel JSON file.

    path (Union[str, Path]): e.g. val_wiki.json.
    RETURNS (Dict[str, List[Instance]]): Instances by relation id.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(Errors.ROC_E102.format(path=path))
    data = json.loads(path.read_text(encoding="utf8"))
    if not isinstance(data, dict):
        raise ValueError(Errors.ROC_E600.format(path=path, reason="not a JSON object {relation: [instances]}"))
    return data


def read_relation_names(path: Union[str, Path]) -> Dict[str, Tuple[str, str]]:
    """(name, description) of each Wikidata relation id, from pid2name.json."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(Errors.ROC_E102.format(path=path))
    return {pid: (entry[0], entry[1]) for pid, entry in json.loads(path.read_text(encoding="utf8")).items()}


def fewrel_doc(vocab: Vocab, instance: Instance, label: str) -> Doc:
    """A Doc of a FewRel instance: the head and tail spans and their record.

    vocab (Vocab): The vocab.
    instance (Instance): `{"tokens": [...], "h": [...], "t": [...]}`.
    label (str): The relation id.
    RETURNS (Doc): The doc.
    """
    install_extensions()
    doc = Doc(vocab, words=list(instance["tokens"]))
    head, tail = (_mention(doc, instance[side]) for side in ("h", "t"))
    doc.spans[SPANS_KEY] = [head, tail]
    doc._.relations = [make_record((head.start, head.end), (tail.start, tail.end), label)]
    return doc


def _mention(doc: Doc, entity: Sequence) -> Span:
    """The first mention of a FewRel entity `[name, id, [[indices], ...]]`."""
    try:
        indices = entity[2][0]
        return Span(doc, min(indices), max(indices) + 1, label=ENTITY_LABEL)
    except (IndexError, TypeError, ValueError) as err:
        raise ValueError(Errors.ROC_E600.format(path="(instance)", reason=f"bad entity {entity!r}: {err}")) from err
