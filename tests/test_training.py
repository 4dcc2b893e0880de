"""Config-driven training with `spacy train`: entry points, reader, scorer."""
import numpy
import pytest
import spacy
import srsly
from PIL import Image
from spacy.tokens import DocBin

from conftest import BLANK, DESCRIPTIONS, make_doc
from spacy_roc.formats.corpus import RelationCorpus

CONFIG = """
[paths]
train = null
dev = null
images = null
descriptions = null
text_encoder = null

[system]
seed = 0
gpu_allocator = null

[nlp]
lang = "en"
pipeline = ["roc_relations"]
batch_size = 8

[components]

[components.roc_relations]
factory = "roc_relations"
threshold = 0.0
top_k = 2
none_label = "None"
spans_key = null

[components.roc_relations.candidates]
@misc = "spacy_roc.all_pairs.v1"

[components.roc_relations.scorer]
@scorers = "spacy_roc.relation_scorer.v1"

[components.roc_relations.model]
@architectures = "spacy_roc.ROCModel.v2"
fusion_layers = 1
bf16 = false
temperature = 0.1

[components.roc_relations.model.pair_encoder]
@architectures = "spacy_roc.InlineMarkers.v1"

[components.roc_relations.model.text_encoder]
@architectures = "spacy_roc.HFTextEncoder.v1"
name = ${paths.text_encoder}
max_length = 48

[components.roc_relations.model.image_encoder]
@architectures = "spacy_roc.TimmImageEncoder.v1"
name = "test_vit"
pretrained = false

[components.roc_relations.model.image_encoder.model_kwargs]
img_size = 32

[corpora]

[corpora.train]
@readers = "spacy_roc.Corpus.v1"
path = ${paths.train}
images_dir = ${paths.images}

[corpora.dev]
@readers = "spacy_roc.Corpus.v1"
path = ${paths.dev}
images_dir = ${paths.images}

[training]
seed = ${system.seed}
gpu_allocator = ${system.gpu_allocator}
dropout = 0.0
max_epochs = 0
max_steps = 100
eval_frequency = 25
patience = 0
dev_corpus = "corpora.dev"
train_corpus = "corpora.train"

[training.batcher]
@batchers = "spacy.batch_by_sequence.v1"
size = 4

[training.optimizer]
@optimizers = "Adam.v1"
learn_rate = 0.003

[training.score_weights]
rel_micro_f = 1.0

[initialize]

[initialize.components]

[initialize.components.roc_relations]
descriptions = ${paths.descriptions}
"""


@pytest.fixture
def corpus_dir(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name, rgb in [("red.png", (255, 0, 0)), ("blue.png", (0, 0, 255))]:
        Image.fromarray(numpy.full((32, 32, 3), rgb, dtype="uint8")).save(images / name)
    data = [
        ("anna drew the red circle", "red.png", "drew"),
        ("ben owns the blue square", "blue.png", "owns"),
        ("carl drew the green triangle", "blue.png", "drew"),
        ("dora owns the red square", "red.png", "owns"),
    ]
    db = DocBin(store_user_data=True)
    for text, image, label in data:
        ents = [(0, 1, "PERSON"), (2, 5, "SHAPE")]
        db.add(make_doc(BLANK, text, ents, [(0, 1, label), (1, 0, "None")], image=image))
    db.to_disk(tmp_path / "train.spacy")
    srsly.write_json(tmp_path / "descriptions.json", DESCRIPTIONS)
    return tmp_path


def test_reader_keeps_image_entities_and_pairs(corpus_dir):
    corpus = RelationCorpus(corpus_dir / "train.spacy", images_dir=corpus_dir / "images")
    examples = list(corpus(BLANK))
    assert len(examples) == 4
    eg = examples[0]
    assert eg.predicted._.image == str(corpus_dir / "images" / "red.png")
    assert [(e.start, e.end, e.label_) for e in eg.predicted.ents] == [(0, 1, "PERSON"), (2, 5, "SHAPE")]
    assert eg.predicted._.relation_pairs == [[[0, 1], [2, 5]], [[2, 5], [0, 1]]]
    assert eg.predicted._.relations == []  # gold stays on the reference
    assert [r["label"] for r in eg.reference._.relations] == ["drew", "None"]


def test_reader_needs_an_existing_corpus(tmp_path):
    corpus = RelationCorpus(tmp_path / "missing.spacy")
    with pytest.raises(ValueError, match=r"\[ROC_E025\].*missing.spacy"):
        list(corpus(BLANK))


@pytest.mark.slow
def test_spacy_train_and_evaluate(corpus_dir, tiny_bert_dir, tmp_path):
    from spacy.cli.train import train

    config_path = tmp_path / "config.cfg"
    config_path.write_text(CONFIG)
    overrides = {
        "paths.train": str(corpus_dir / "train.spacy"),
        "paths.dev": str(corpus_dir / "train.spacy"),
        "paths.images": str(corpus_dir / "images"),
        "paths.descriptions": str(corpus_dir / "descriptions.json"),
        "paths.text_encoder": str(tiny_bert_dir),
    }
    train(config_path, tmp_path / "out", overrides=overrides)
    best = tmp_path / "out" / "model-best"
    meta = srsly.read_json(best / "meta.json")
    assert meta["performance"]["rel_micro_f"] == 1.0
    nlp = spacy.load(best)
    corpus = RelationCorpus(corpus_dir / "train.spacy", images_dir=corpus_dir / "images")
    scores = nlp.evaluate(list(corpus(nlp)))
    assert scores["rel_acc"] == 1.0 and scores["rel_micro_f"] == 1.0
    assert nlp.get_pipe("roc_relations").relations == DESCRIPTIONS
