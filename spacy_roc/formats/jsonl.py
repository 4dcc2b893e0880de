"""Reading JSONL files, as ``annotate``, ``visualize`` and ``convert prodigy`` do.

A line ends at b"\\n" only: a JSON string may hold the other line breaks of
str.splitlines (U+2028, U+0085, ...) raw. The "\\r" of a "\\r\\n" line end and a UTF-8
byte-order mark at the start of the file are dropped.
"""
import json
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterable, Iterator, Tuple, Union

BOM = b"\xef\xbb\xbf"
CHUNK_SIZE = 1 << 20


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split a byte stream into lines at b"\\n" only, without the line end ("\\n" or
    "\\r\\n") and without a UTF-8 byte-order mark at the start. A final empty line
    (the file ends with "\\n") is not a line.

    chunks (Iterable[bytes]): The bytes, in pieces of any size.
    YIELDS (bytes): The lines.
    """
    rest, start = b"", True
    for chunk in chunks:
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield _strip_line(part, start)
            start = False
    if rest:
        yield _strip_line(rest, start)


def _strip_line(line: bytes, first: bool) -> bytes:
    if first and line.startswith(BOM):
        line = line[len(BOM) :]
    return line[:-1] if line.endswith(b"\r") else line


def read_lines(file: BinaryIO) -> Iterator[bytes]:
    """The lines of a binary file object, read lazily in chunks (see iter_lines)."""
    return iter_lines(iter(partial(file.read, CHUNK_SIZE), b""))


def read_file_lines(path: Union[str, Path]) -> Iterator[bytes]:
    """The lines of a local file, read lazily (see iter_lines)."""
    with open(path, "rb") as file:
        yield from read_lines(file)


def json_lines(path: Union[str, Path]) -> Iterator[Tuple[int, Union[Dict[str, Any], ValueError]]]:
    """The JSON object of every non-blank line of a JSONL file, or the ValueError that
    says why the line is not one (the caller decides whether that stops the reading).

    path (Union[str, Path]): The file.
    YIELDS (Tuple[int, Union[Dict[str, Any], ValueError]]): The line number (from 1,
        blank lines counted) and the object or the error.
    """
    for line_no, data in enumerate(read_file_lines(path), 1):
        try:
            text = data.decode("utf8")
        except UnicodeDecodeError as err:
            yield line_no, ValueError(f"not UTF-8 ({err})")
            continue
        if text.strip():
            yield line_no, _json_object(text)


def _json_object(text: str) -> Union[Dict[str, Any], ValueError]:
    try:
        value = json.loads(text)
    except ValueError as err:
        return ValueError(f"not JSON ({err})")
    if not isinstance(value, dict):
        return ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def is_int(value: Any) -> bool:
    """Whether a JSON value is an integer (a bool is not, though Python counts it as one)."""
    return isinstance(value, int) and not isinstance(value, bool)
