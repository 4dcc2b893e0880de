"""Per pair encoder, in the shape of spaCy's test_overfitting_IO: overfit the tiny
model on CORPUS, then the same predictions after to_disk/spacy.load and after
to_bytes/from_bytes, from nlp.pipe as from nlp(), and a relation added by description
alone scoring as its synonym."""
import numpy
import pytest
import spacy
from spacy.util import load_model_from_config

from conftest import (
    DESCRIPTIONS,
    LEVITATED,
    assert_same_relations,
    fresh_docs,
    gold_relations,
    listener_nlp,
    make_nlp,
    overfit,
    relation_labels,
)

ENCODERS = ["inline", "levitated", "listener"]


@pytest.fixture
def overfit_pipeline(request, tiny_bert_dir):
    """(nlp, examples): the encoder's pipeline overfit on CORPUS (checked by
    `overfit`). The inline one is the suite's session pipeline."""
    if request.param == "inline":
        nlp, examples, _ = request.getfixturevalue("trained")
        return nlp, examples
    if request.param == "levitated":
        nlp = make_nlp(tiny_bert_dir, spans_key="entities", pair_encoder=LEVITATED)
    else:
        nlp = listener_nlp(tiny_bert_dir)
    return nlp, overfit(nlp)


@pytest.mark.slow
@pytest.mark.parametrize("overfit_pipeline", ENCODERS, indirect=True)
def test_overfitting_IO(overfit_pipeline, tmp_path):
    nlp, examples = overfit_pipeline
    pipe = nlp.get_pipe("roc_relations")
    docs = [nlp(doc) for doc in fresh_docs(examples)]
    assert relation_labels(docs) == gold_relations(examples)
    assert pipe.relations == DESCRIPTIONS and pipe.labels[0] == "None"
    for doc in docs:
        for record in doc._.relations:
            assert 0.5 < record["score"] <= 1.0
            assert len(record["alternatives"]) == min(pipe.top_k, len(pipe.labels) - 1)
    # the overlapping mentions (2, 5) and (3, 5) each got their relation
    assert {(r["head"][0], r["tail"][0]) for r in docs[4]._.relations} == {(0, 2), (0, 3)}

    # to_disk and spacy.load: the same records, scores included
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert [loaded(doc)._.relations for doc in fresh_docs(examples)] == [doc._.relations for doc in docs]
    assert loaded.get_pipe("roc_relations").relation_set == pipe.relation_set

    # to_bytes and from_bytes into a pipeline built from the same config
    from_bytes = load_model_from_config(nlp.config, auto_fill=True).from_bytes(nlp.to_bytes())
    assert [from_bytes(doc)._.relations for doc in fresh_docs(examples)] == [doc._.relations for doc in docs]

    # nlp.pipe in batches gives what nlp() gives
    assert_same_relations(list(loaded.pipe(fresh_docs(examples), batch_size=3)), docs)

    # a relation by description alone is new to the model: scored by its pretrained
    # pass, while the trained relations keep their logits, so their odds are kept
    loaded_pipe = loaded.get_pipe("roc_relations")
    before = loaded_pipe.predict(fresh_docs(examples))[1]
    loaded_pipe.add_relation("sketched", DESCRIPTIONS["drew"], name="drew")
    assert loaded_pipe.new_relations == ("sketched",)
    after = loaded_pipe.predict(fresh_docs(examples))[1]
    numpy.testing.assert_allclose(after[:, :-1] / after[:, :-1].sum(axis=1, keepdims=True), before, rtol=1e-4, atol=1e-7)
