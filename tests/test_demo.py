"""Tests of the synthetic demo dataset (spacy_roc.commands.demo)."""
import random
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy
import pytest
from PIL import Image
from typer.testing import CliRunner

import spacy_roc  # noqa: F401  (installs the Doc extensions)
from conftest import read_docs
from spacy_roc.commands.cli import app
from spacy_roc.commands.demo import (
    DEMO_LABELS,
    IMAGE_ONLY_LABELS,
    NONE_LABEL,
    PALETTE,
    SPANS_KEY,
    TEXT_ONLY_LABELS,
    between_signature,
    demo_docs,
    generate_demo,
    is_shape_person_pair,
    make_example,
    spatial_label,
    text_only_baseline,
)
from spacy_roc.extensions import record_key, validate_record

SIZES = {"n_train": 40, "n_dev": 12, "n_test": 12}
SPLITS = ("train", "dev", "test")


def _all_files(folder: Path):
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}



@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    output = tmp_path_factory.mktemp("demo")
    counts = generate_demo(output, **SIZES, seed=3)
    return output, counts


@pytest.fixture(scope="module")
def demo_split_docs(demo_dir):
    output, _ = demo_dir
    return {split: read_docs(output / f"{split}.spacy") for split in SPLITS}


def test_same_seed_same_bytes(demo_dir, tmp_path):
    output, _ = demo_dir
    generate_demo(tmp_path / "again", **SIZES, seed=3)
    assert _all_files(output) == _all_files(tmp_path / "again")
    generate_demo(tmp_path / "other", **SIZES, seed=4)
    other = _all_files(tmp_path / "other")
    assert other["train.spacy"] != _all_files(output)["train.spacy"]


def test_counts(demo_dir, demo_split_docs):
    output, counts = demo_dir
    assert counts["train"] == 40 and counts["dev"] == 12 and counts["test"] == 12
    assert counts["images"] == 64 == len(list((output / "images").glob("*.png")))
    assert {split: len(docs) for split, docs in demo_split_docs.items()} == {
        "train": 40, "dev": 12, "test": 12
    }
    n_records = sum(len(doc._.relations) for docs in demo_split_docs.values() for doc in docs)
    assert counts["relations"] == n_records


def test_every_doc_has_an_image(demo_dir, demo_split_docs):
    output, _ = demo_dir
    for docs in demo_split_docs.values():
        for doc in docs:
            assert isinstance(doc._.image, str) and "/" not in doc._.image
            image = Image.open(output / "images" / doc._.image)
            assert image.mode == "RGB" and image.size == (32, 32)


def test_records_are_valid(demo_split_docs):
    seen = Counter()
    for docs in demo_split_docs.values():
        for doc in docs:
            types = {(s.start, s.end): s.label_ for s in doc.spans[SPANS_KEY]}
            assert [(e.start, e.end) for e in doc.ents] == sorted(types)
            pairs = set()
            for record in doc._.relations:
                head, tail = validate_record(doc, record)
                assert record["label"] in DEMO_LABELS
                assert head in types and tail in types
                pair_types = (types[head], types[tail])
                if record["label"] in IMAGE_ONLY_LABELS:
                    assert pair_types == ("SHAPE", "SHAPE")
                if record["label"] in TEXT_ONLY_LABELS:
                    assert pair_types == ("SHAPE", "PERSON")
                pairs.add(frozenset((head, tail)))
                seen[record["label"]] += 1
            # every unordered entity pair is annotated exactly once
            assert len(pairs) == len(doc._.relations) == len(list(combinations(types, 2)))
    assert set(seen) == set(DEMO_LABELS)


def _box_centres(image: Image.Image):
    pixels = numpy.asarray(image).astype(int)
    found = {}
    for colour, rgb in PALETTE.items():
        ys, xs = numpy.nonzero((numpy.abs(pixels - rgb).sum(axis=2) == 0))
        if len(xs):
            found[colour] = ((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2)
    return found


def test_spatial_labels_match_the_pixels(demo_dir, demo_split_docs):
    output, _ = demo_dir
    n_checked = 0
    for doc in demo_split_docs["train"]:
        centroids = _box_centres(Image.open(output / "images" / doc._.image))
        for record in doc._.relations:
            (hs, he), (ts, te) = record_key(record)
            if not doc[hs].lower_ == "the" or not doc[ts].lower_ == "the":
                continue  # a person is involved
            (hx, hy), (tx, ty) = centroids[doc[hs + 1].text], centroids[doc[ts + 1].text]
            expected = NONE_LABEL
            if abs(hy - ty) < 1 and hx < tx:
                expected = "left_of"
            elif abs(hx - tx) < 1 and hy < ty:
                expected = "above"
            assert record["label"] == expected
            n_checked += 1
    assert n_checked > 40


def test_the_layout_alone_decides_the_image_only_labels():
    """Counterfactual: the same text stream with other layouts (grid cells) gives the
    same text, entities and text-only labels, while every shape-shape label is the
    spatial relation of the two cells and changes with them. So the text carries
    nothing about an image-only label that the layout does not decide."""
    for text_seed in range(50):
        texts, text_only, spatial = set(), set(), Counter()
        for layout_seed in range(20):
            example = make_example(random.Random(text_seed), random.Random(1000 + layout_seed))
            texts.add((example["text"], tuple(example["mentions"])))
            n_shapes, cells = len(example["shapes"]), example["cells"]
            for head, tail, label in example["pairs"]:
                if head < n_shapes and tail < n_shapes:
                    assert label == spatial_label(cells[head], cells[tail])
                    spatial[frozenset((head, tail)), label] += 1
                elif head < n_shapes:
                    text_only.add((head, tail, label))
        assert len(texts) == 1
        assert len(text_only) == (n_shapes * (len(example["mentions"]) - n_shapes))
        for pair in {pair for pair, _ in spatial}:
            labels = {label for p, label in spatial if p == pair}
            assert labels >= {NONE_LABEL} and labels & set(IMAGE_ONLY_LABELS)


@pytest.fixture(scope="module")
def big_docs():
    return demo_docs("train", 1200, seed=0), demo_docs("test", 600, seed=0)


def test_text_predicts_text_only_relations(big_docs):
    """The text-only baseline has power: the words between the two mentions solve
    the text-only pairs."""
    train, test = big_docs
    result = text_only_baseline(train, test, between_signature, is_shape_person_pair)
    assert result["signature_acc"] > 0.99
    assert result["signature_acc"] > result["majority_acc"] + 0.2


def test_demo_docs_match_the_files(demo_split_docs):
    in_memory = demo_docs("dev", 12, seed=3)
    for a, b in zip(in_memory, demo_split_docs["dev"]):
        assert a.text == b.text and a._.image == b._.image
        assert [record_key(r) + (r["label"],) for r in a._.relations] == [
            record_key(r) + (r["label"],) for r in b._.relations
        ]


def test_image_size_and_validation(tmp_path):
    generate_demo(tmp_path, n_train=2, n_dev=1, n_test=1, image_size=48)
    assert Image.open(next((tmp_path / "images").glob("*.png"))).size == (48, 48)
    with pytest.raises(ValueError):
        generate_demo(tmp_path / "x", n_train=1, n_dev=1, n_test=1, image_size=8)


def test_cli_demo(tmp_path):
    args = ["demo", str(tmp_path), "--n-train", "5", "--n-dev", "2", "--n-test", "2", "--seed", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "relations" in result.output
    assert len(read_docs(tmp_path / "train.spacy")) == 5
    assert len(list((tmp_path / "images").glob("*.png"))) == 9


def test_same_bytes_across_processes(demo_dir, tmp_path):
    """Determinism does not depend on hash randomisation."""
    import os
    import subprocess
    import sys

    output, _ = demo_dir
    sizes = [f"--n-{split}={SIZES['n_' + split]}" for split in SPLITS]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    command = [sys.executable, "-m", "spacy_roc", "demo", str(tmp_path), *sizes, "--seed", "3"]
    subprocess.run(command, check=True, env=env, capture_output=True)
    assert _all_files(tmp_path) == _all_files(output)
