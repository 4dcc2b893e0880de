"""Reading a response of spacy_roc.RelationDescriptions.v1: the listed descriptions."""
import re
from typing import List, Sequence

# A description is one sentence; longer lines are the model rambling.
MAX_DESCRIPTION_CHARS = 300
# "1. text", "12) text" or "- text"; "1.5 million" is not an item.
ITEM_PATTERN = re.compile(r"^\s*(?:\d+\s*[.)](?!\d)|-)\s*(.*?)\s*$")
QUOTES = "\"'“”"


def parse_response(text: str) -> List[str]:
    """The descriptions listed in a response: the text of every line that starts
    with "1.", "1)" or "-", stripped (surrounding quotes too), in order, without
    empty ones (or ones without a letter), ones longer than MAX_DESCRIPTION_CHARS
    and repeats. Other lines (a preamble, a closing remark) are ignored.

    text (str): The model's response.
    RETURNS (List[str]): The descriptions; empty if none is found.
    """
    items: List[str] = []
    for line in text.splitlines():
        match = ITEM_PATTERN.match(line)
        item = _unquote(match.group(1)) if match else ""
        if _usable(item) and _norm(item) not in {_norm(seen) for seen in items}:
            items.append(item)
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
