"""Generalized zero-shot relations: splits, gamma, AUSUC, `calibrate` and `gzsl run`."""
import numpy
import pytest
import spacy
import srsly
from typer.testing import CliRunner

from conftest import BLANK, DESCRIPTIONS, make_doc, make_nlp, solid_image
from spacy_roc.commands.cli import app
from spacy_roc.commands.gzsl import (
    Offered, ausuc, choose_gamma, gzsl_scores, side_scores, split_corpus, split_fewrel, thirds, write_split,
)
from spacy_roc.formats.docbin import read_docbin, write_docbin

LABELS = [f"/r/{i}" for i in range(9)]
RELATIONS = {"None": ["no relation"], **{label: [f"relation number {i}"] for i, label in enumerate(LABELS)}}


def corpus(n_docs, seed):
    """Docs of three entities, each with one relation among LABELS and None pairs."""
    rng = numpy.random.default_rng(seed)
    ents = [(0, 1, "PERSON"), (2, 3, "PERSON"), (4, 5, "SHAPE")]
    docs = []
    for _ in range(n_docs):
        labels = [str(rng.choice(LABELS)), "None", str(rng.choice(LABELS))]
        docs.append(make_doc(BLANK, "anna and ben drew circles", ents, [(0, 1, labels[0]), (1, 0, labels[1]), (0, 2, labels[2])]))
    return docs


def test_thirds_partition_the_relations_by_seed():
    seen, val, test = thirds(LABELS + ["None"][:0], seed=3)
    assert (len(seen), len(val), len(test)) == (3, 3, 3)
    assert sorted(seen + val + test) == sorted(LABELS)
    assert thirds(LABELS, 3) == (seen, val, test) != thirds(LABELS, 4)
    with pytest.raises(ValueError, match="ROC_E601"):
        thirds(LABELS[:2], 0)


def test_split_corpus_keeps_unseen_pairs_out_of_training():
    train, dev = corpus(40, 0), corpus(10, 1)
    split, parts = split_corpus(train, dev, RELATIONS, seed=0, seen_test_share=0.25)
    known = set(split.seen) | {"None"}
    labels = {part: {r["label"] for doc in docs for r in doc._.relations} for part, docs in parts.items()}
    for part in ("train", "dev", "seen_test"):
        assert labels[part] <= known and labels[part]
    assert labels["val_unseen"] <= set(split.val_unseen) and labels["test_unseen"] <= set(split.test_unseen)
    # every gold pair goes somewhere, once (a seen test doc's unseen pairs to its unseen set)
    n_pairs = sum(len(doc._.relations) for doc in train + dev)
    assert sum(len(doc._.relations) for docs in parts.values() for doc in docs) == n_pairs
    assert len(parts["seen_test"]) == 10 and split.metric == "f1"
    with pytest.raises(ValueError, match="ROC_E602"):
        split_corpus(train, dev, {"None": ["no relation"]}, seed=0)


def test_split_fewrel_holds_seen_test_sentences_out():
    instance = {"tokens": ["anna", "drew", "the", "red", "circle"], "h": ["anna", "Q1", [[0]]], "t": ["circle", "Q2", [[4]]]}
    data = {f"P{i}": [instance] * 12 for i in range(9)}
    split, parts = split_fewrel(data, m=3, n_heldout=2, seed=0, n_dev=3, n_seen_test=4, n_val_docs=5)
    assert (len(split.seen), len(split.val_unseen), len(split.test_unseen)) == (4, 2, 3)
    assert [len(parts[p]) for p in ("train", "dev", "seen_test", "val_unseen", "test_unseen")] == [20, 12, 16, 10, 36]
    assert split.metric == "acc"


def offered(logits, gold, seen):
    return Offered(numpy.asarray(logits, dtype="float32"), numpy.asarray(gold), ["None", "a", "b", "c"], numpy.asarray(seen))


SEEN_MASK = [True, True, False, False]  # None and "a" are seen, "b" and "c" unseen


def test_gamma_and_ausuc_on_known_logits():
    # seen pairs: gold "a"; the seen relation wins by 3.0 and 4.0
    seen = offered([[0, 4, 1, 0], [0, 5, 1, 0]], [1, 1], SEEN_MASK)
    # unseen pairs: gold "b"; the seen relation wins by 0.5 and 2.0
    unseen = offered([[0, 1.5, 1, 0], [0, 3, 1, 0]], [2, 2], SEEN_MASK)
    at_zero = gzsl_scores(seen, unseen, 0.0, "None")
    assert at_zero["seen"]["acc"] == 100 and at_zero["unseen"]["acc"] == 0 and at_zero["h_acc"] == 0
    gamma, scores = choose_gamma(seen, unseen, "acc", "None")
    assert 2.0 < gamma < 3.0 and scores["seen"]["acc"] == 100 and scores["unseen"]["acc"] == 100
    assert scores["h_f1"] == 100
    assert ausuc(seen, unseen) == pytest.approx(100.0)
    # unseen pairs the seen relation beats by 5.0 and 4.0: as gamma grows the curve
    # goes (0, 1), (0, 0.5), (0.5, 0), (1, 0); the area under it is 0.5 * 0.25
    hard = offered([[0, 6, 1, 0], [0, 5, 1, 0]], [2, 2], SEEN_MASK)
    assert ausuc(seen, hard) == pytest.approx(12.5)
    with pytest.raises(ValueError, match="ROC_E605"):
        choose_gamma(seen, unseen, "recall", "None")


def test_side_scores_leave_the_none_label_out_of_micro_f1():
    labels = ["None", "a", "b"]
    scores = side_scores(numpy.asarray([0, 1, 2, 0]), numpy.asarray([0, 1, 1, 2]), labels, "None")
    # predicted non-None: 3 (1 right); gold non-None: 2 (1 right)
    assert scores["p"] == pytest.approx(100 / 3) and scores["r"] == 50 and scores["acc"] == 50


def heldout_docs(labels):
    ents = [(0, 1, "PERSON"), (2, 5, "SHAPE")]
    rows = [("anna drew the red circle", (255, 0, 0)), ("ben owns the blue square", (0, 0, 255))]
    return [make_doc(BLANK, t, ents, [(0, 1, label)], image=solid_image(rgb)) for (t, rgb), label in zip(rows, labels)]


def test_calibrate_cli_chooses_and_saves_gamma(trained, tmp_path):
    _, examples, path = trained
    write_docbin([eg.reference for eg in examples], tmp_path / "seen.spacy")
    write_docbin(heldout_docs(["P_made", "P_has"]), tmp_path / "unseen.spacy")
    relations = {"P_made": {"descriptions": ["the head person made the tail shape"]}, "P_has": ["the head person has the tail shape"]}
    srsly.write_json(tmp_path / "rel.json", relations)
    args = ["calibrate", str(path), str(tmp_path / "out"), "--seen", str(tmp_path / "seen.spacy"), "--unseen", str(tmp_path / "unseen.spacy"), "--relations", str(tmp_path / "rel.json"), "--metric", "acc"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    pipe = spacy.load(tmp_path / "out").get_pipe("roc_relations")
    assert float(result.output.split("gamma ")[1].split()[0]) == pytest.approx(pipe.gamma, abs=1e-3)
    assert pipe.cfg["calibration"]["unseen_relations"] == ["P_has", "P_made"] and pipe.cfg["calibration"]["metric"] == "acc"
    assert pipe.labels == spacy.load(path).get_pipe("roc_relations").labels  # the held-out relations are not kept


@pytest.mark.slow
def test_gzsl_run_trains_calibrates_and_scores_three_rows(tiny_bert_dir, tmp_path):
    nlp = make_nlp(tiny_bert_dir, spans_key="entities")
    config = nlp.config
    config["paths"] = {"train": "", "dev": "", "descriptions": "", "vectors": None, "init_tok2vec": None}
    config["corpora"] = {
        part: {"@readers": "spacy_roc.Corpus.v1", "path": f"${{paths.{part}}}", "gold_pairs": True} for part in ("train", "dev")
    }
    config["initialize"]["components"]["roc_relations"] = {"descriptions": "${paths.descriptions}"}
    config["training"].update({"max_steps": 4, "eval_frequency": 2, "dev_corpus": "corpora.dev", "train_corpus": "corpora.train"})
    config["training"]["optimizer"] = {"@optimizers": "Adam.v1", "learn_rate": 0.003}
    config.to_disk(tmp_path / "tiny.cfg")
    split, parts = split_corpus(corpus(30, 0), corpus(8, 1), RELATIONS, seed=0)
    write_split(tmp_path / "split", split, parts, RELATIONS)
    result = CliRunner().invoke(app, ["gzsl", "run", str(tmp_path / "split"), "--config", str(tmp_path / "tiny.cfg")])
    assert result.exit_code == 0, result.output
    metrics = srsly.read_json(tmp_path / "split" / "metrics.json")
    assert set(metrics["rows"]) == {"trained, no routing", "untrained encoder", "routed and calibrated"}
    for row in metrics["rows"].values():
        assert 0 <= row["h_f1"] <= 100 and 0 <= row["ausuc"] <= 100
    assert metrics["rows"]["routed and calibrated"]["gamma"] == metrics["gamma"]
    calibrated = spacy.load(tmp_path / "split" / "model-calibrated").get_pipe("roc_relations")
    assert calibrated.gamma == metrics["gamma"] and set(calibrated.labels) == set(split.seen) | {"None"}
    assert "Routed and calibrated strictly above" in result.output
    table = CliRunner().invoke(app, ["gzsl", "table", str(tmp_path / "split")])
    assert table.exit_code == 0 and "mean of 1" in table.output
