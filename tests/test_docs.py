"""The README is a short front door to the pages under docs/, and the docs agree with
the code: every error and warning code of spacy_roc/errors.py is in the table of
docs/errors.md, and every relative link to a Markdown file resolves."""
import os
import re
from pathlib import Path
from typing import List, Set, Tuple

import pytest

import spacy_roc.errors as roc_errors

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
ERRORS_PAGE = DOCS / "errors.md"

MAX_README_LINES = 250
CODE_NAME = re.compile(r"ROC_[EW]\d+")
# one code, or a range of codes of one kind: ROC_E005–E007, ROC_W100-ROC_W101;
# a code without prefix (E014 in "ROC_E013 / E014") continues the cell's prefix
CODE = r"(?:ROC_)?([EW])(\d{3})"
CODE_OR_RANGE = re.compile(CODE + r"(?:\s*[–-]\s*" + CODE + r")?")
# [text](target): inline links and images, the target up to a space or ")"
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def prose_lines(path: Path) -> List[str]:
    """The lines of a Markdown file outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation but - and _ dropped,
    spaces as hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def doc_pages() -> List[Path]:
    return sorted(DOCS.glob("*.md"))


def markdown_links(path: Path) -> List[str]:
    return [target for line in prose_lines(path) for target in LINK.findall(line)]


def defined_codes() -> Set[str]:
    """The codes spacy_roc/errors.py defines: the ROC_E/ROC_W attributes of Errors and
    Warnings."""
    codes = set()
    for cls in (roc_errors.Errors, roc_errors.Warnings):
        codes.update(name for name in vars(cls) if CODE_NAME.fullmatch(name))
    return codes


def error_table_cells() -> List[str]:
    """The first cell of every row of the table(s) in docs/errors.md that has a
    "code" column, header and separator rows left out."""
    cells, in_table = [], False
    for line in prose_lines(ERRORS_PAGE):
        if not line.startswith("|"):
            in_table = False
            continue
        first = line.strip().strip("|").split("|")[0].strip()
        if first.lower() == "code":
            in_table = True
            continue
        if in_table and not re.fullmatch(r":?-+:?", first):
            cells.append(first)
    return cells


def parse_code_cell(cell: str) -> Tuple[Set[str], List[Tuple[str, str]]]:
    """The single codes and the (first, last) ranges a table cell names."""
    singles, ranges = set(), []
    for kind, number, end_kind, end_number in CODE_OR_RANGE.findall(cell):
        first = f"ROC_{kind}{number}"
        if not end_number:
            singles.add(first)
            continue
        assert end_kind == kind, f"range {cell!r} mixes errors and warnings"
        last = f"ROC_{end_kind}{end_number}"
        assert int(end_number) > int(number), f"empty or reversed range in {cell!r}"
        ranges.append((first, last))
    return singles, ranges


def test_readme_is_short():
    lines = README.read_text(encoding="utf8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines (at most {MAX_README_LINES})"
    prose = prose_lines(README)
    sections = [line[3:].strip() for line in prose if line.startswith("## ")]
    toc_titles = [title for title in sections if title.lower() in {"contents", "table of contents"}]
    assert toc_titles, "README.md has no '## Contents' section"
    start = prose.index(f"## {toc_titles[0]}") + 1
    end = next((i for i in range(start, len(prose)) if prose[i].startswith("## ")), len(prose))
    toc_links = {target for line in prose[start:end] for target in LINK.findall(line)}
    missing = [title for title in sections if title not in toc_titles and f"#{github_anchor(title)}" not in toc_links]
    assert not missing, f"sections not in the README's table of contents: {missing}"
    pages = [f"docs/{page.name}" for page in doc_pages()]
    assert pages, "no docs/*.md pages"
    unlisted = [page for page in pages if page not in toc_links]
    assert not unlisted, f"docs pages not in the README's table of contents: {unlisted}"


def test_error_table_matches_errors_py():
    defined = defined_codes()
    assert len(defined) > 50, "spacy_roc.errors defines fewer codes than expected: parsing failed"
    cells = error_table_cells()
    assert cells, "docs/errors.md has no table with a 'code' column"
    documented, unknown = set(), []
    for cell in cells:
        singles, ranges = parse_code_cell(cell)
        assert singles or ranges, f"row without a code in docs/errors.md: {cell!r}"
        unknown += sorted(singles - defined)
        documented |= singles & defined
        for first, last in ranges:
            unknown += [code for code in (first, last) if code not in defined]
            low, high = int(first[5:]), int(last[5:])
            documented |= {code for code in defined if code[4] == first[4] and low <= int(code[5:]) <= high}
    assert not unknown, f"codes in docs/errors.md that spacy_roc/errors.py does not define: {unknown}"
    undocumented = sorted(defined - documented)
    assert not undocumented, f"codes of spacy_roc/errors.py missing from docs/errors.md: {undocumented}"


@pytest.mark.parametrize("cell,singles,ranges", [
    ("ROC_E001", {"ROC_E001"}, []),
    ("ROC_E013 / E014", {"ROC_E013", "ROC_E014"}, []),
    ("ROC_E005–E007", set(), [("ROC_E005", "ROC_E007")]),
    ("ROC_E100–E103, ROC_W100–W101", set(), [("ROC_E100", "ROC_E103"), ("ROC_W100", "ROC_W101")]),
    ("ROC_E120, ROC_E123, ROC_W120-ROC_W122", {"ROC_E120", "ROC_E123"}, [("ROC_W120", "ROC_W122")]),
])
def test_parse_code_cell(cell, singles, ranges):
    assert parse_code_cell(cell) == (singles, ranges)


def test_docs_links_resolve():
    pages = [README] + doc_pages()
    broken, checked = [], 0
    for page in pages:
        for target in markdown_links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
                continue  # a URL, or an anchor in the same page
            path = target.split("#", 1)[0]
            if not path.endswith(".md"):
                continue
            checked += 1
            if not (page.parent / path).resolve().is_file():
                broken.append(f"{os.path.relpath(page, ROOT)}: {target}")
    assert checked, "no relative links to .md files found"
    assert not broken, f"links to missing Markdown files: {broken}"
