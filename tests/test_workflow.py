"""A reduced `all` workflow: demo data -> train -> evaluate -> package, then the
wheel is installed into a folder of its own and loaded offline by this Python (in a
virtualenv or not)."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import srsly

ROOT = Path(__file__).parents[1]
TINY_VARS = {
    "demo_train": 24,
    "demo_dev": 8,
    "demo_test": 8,
    "max_steps": 6,
    "eval_frequency": 3,
    "package_name": "roc_ci",
}


def run(cmd, cwd, env=None):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{cmd}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    path = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "project.yml", path / "project.yml")
    shutil.copytree(ROOT / "configs", path / "configs")
    shutil.copytree(ROOT / "assets" / "descriptions", path / "assets" / "descriptions")
    overrides = [f"--vars.{k}={v}" for k, v in TINY_VARS.items()]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")  # one torch thread, as in the suite
    run([sys.executable, "-m", "spacy", "project", "run", "all", ".", *overrides], cwd=path, env=env)
    return path


@pytest.mark.slow
def test_workflow_outputs(project):
    """The evaluate step reports the scores of the trained pipeline's predictions on
    the test split (recomputed here with the scorer), and writes its table and plot."""
    import spacy
    from spacy.training import Example

    from spacy_roc.formats.corpus import RelationCorpus
    from spacy_roc.scorer import score_relations

    metrics = srsly.read_json(project / "metrics" / "demo" / "metrics.json")
    nlp = spacy.load(project / "training" / "demo" / "model-best")
    corpus = RelationCorpus(project / "corpus" / "demo" / "test.spacy", images_dir=project / "corpus" / "demo" / "images", gold_pairs=True)
    examples = list(corpus(nlp))
    predicted = nlp.pipe([eg.predicted.copy() for eg in examples])
    expected = score_relations([Example(doc, eg.reference) for doc, eg in zip(predicted, examples)], none_label="None")
    assert metrics["n_docs"] == len(examples) == TINY_VARS["demo_test"]
    for key in ("rel_acc", "rel_micro_p", "rel_micro_r", "rel_micro_f"):
        assert metrics[key] == pytest.approx(expected[key], abs=1e-6), key
    assert set(metrics["rel_f_per_type"]) == set(expected["rel_f_per_type"])
    assert (project / "metrics" / "demo" / "metrics_text_only.json").exists()
    assert (project / "metrics" / "demo" / "metrics_confusion.png").stat().st_size > 0
    assert "Text-only" in (project / "metrics" / "demo" / "metrics_per_label.md").read_text()


@pytest.mark.slow
def test_package_installs_and_loads_offline(project, tmp_path):
    wheels = list((project / "packages").glob("**/dist/*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as zf:
        meta = next(n for n in zf.namelist() if n.endswith("METADATA"))
        requires = [l for l in zf.read(meta).decode().splitlines() if l.startswith("Requires-Dist")]
    assert any("spacy-roc" in r or "spacy_roc" in r for r in requires), requires
    # Install the wheel alone into a folder put first on the path of this Python, so
    # it sees this environment's spaCy and spacy-roc whether that is a virtualenv or
    # the system Python (a `venv --system-site-packages` made from inside a
    # virtualenv would see the system's packages, not the virtualenv's).
    target = tmp_path / "site"
    run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target", str(target), str(wheels[0])], cwd=tmp_path)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(target), *filter(None, [os.environ.get("PYTHONPATH")])])
    result = predict_in_subprocess("en_roc_ci", tmp_path, env)
    assert result["path"].startswith(str(target))
    assert set(result["labels"]) == {"None", "left_of", "above", "drawn_by", "gift_for"}
    # the installed package predicts exactly what the trained pipeline predicts
    trained = predict_in_subprocess(str(project / "training" / "demo" / "model-best"), tmp_path, env)
    assert len(result["relations"]) == 2
    assert result["relations"] == trained["relations"]


PREDICT = """
import json, sys
import spacy
from spacy.tokens import Span
nlp = spacy.load(sys.argv[1])
doc = nlp.make_doc("Anna drew the red circle. The blue square is a gift for Ben.")
doc.spans["entities"] = [Span(doc, 0, 1, "PERSON"), Span(doc, 2, 5, "SHAPE"), Span(doc, 6, 9, "SHAPE"), Span(doc, 13, 14, "PERSON")]
doc._.relation_pairs = [[[2, 5], [0, 1]], [[6, 9], [13, 14]]]
nlp.get_pipe("roc_relations").none_label = "__list_every_pair__"
doc = nlp(doc)
labels = list(nlp.get_pipe("roc_relations").labels)
print(json.dumps({"path": str(nlp.path), "labels": labels, "relations": doc._.relations}))
"""


def predict_in_subprocess(model, cwd, env):
    """Load a pipeline in a new Python process and return its predictions."""
    out = run([sys.executable, "-c", PREDICT, model], cwd=cwd, env=env).stdout.strip().splitlines()[-1]
    return srsly.json_loads(out)


@pytest.mark.slow
def test_train_throughput_benchmark(project):
    """benchmarks/train_throughput.py trains a shrunken demo config on the demo corpus
    with both heads and prints a row each, whose pairs equal the gold records of the
    timed batches, and the ratio of their seconds per step."""
    shrink = {
        "components.roc_relations.model.text_encoder.config_overrides.hidden_size": 32,
        "components.roc_relations.model.text_encoder.config_overrides.num_hidden_layers": 1,
        "components.roc_relations.model.text_encoder.config_overrides.num_attention_heads": 2,
        "components.roc_relations.model.image_encoder.model_kwargs.depth": 1,
        "components.roc_relations.model.image_encoder.model_kwargs.embed_dim": 32,
        "components.roc_relations.model.image_encoder.model_kwargs.num_heads": 2,
        "paths.descriptions": "assets/descriptions/demo.json",
    }
    sets = [arg for key, value in shrink.items() for arg in (f"--{key}", str(value))]
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "configs/demo.cfg",
        "corpus/demo/train.spacy", "--n-docs", "12", "--batch-size", "4", "--warmup", "1",
        "--images-dir", "corpus/demo/images", *sets,
    ]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    output = run(cmd, cwd=project, env=env).stdout.strip().splitlines()
    rows = {line.split()[1]: line.split() for line in output if line.startswith("demo ")}
    assert set(rows) == {"retrieval", "classifier"}
    from spacy_roc.formats.docbin import read_docbin

    docs = list(read_docbin(project / "corpus" / "demo" / "train.spacy"))[4:12]
    for row in rows.values():
        assert row[2] == "cpu"
        batch, steps, pairs, seconds_per_step, pairs_per_second = row[3:]
        assert (int(batch), int(steps)) == (4, 2)
        assert int(pairs) == sum(len(doc._.relations) for doc in docs)
        assert float(pairs_per_second) == pytest.approx(int(pairs) / (2 * float(seconds_per_step)), rel=0.05)
    ratio = float(output[-1].split(":")[1])
    assert ratio == pytest.approx(float(rows["retrieval"][6]) / float(rows["classifier"][6]), rel=0.05)


def test_mnre_minilm_workflow_is_complete():
    """Every step of the mnre-minilm workflow is a command; each run writes a
    {run}_seed{seed} report that the compare step reads, and the ablation differs from
    ROC only in its head."""
    project = srsly.read_yaml(ROOT / "project.yml")
    commands = {c["name"]: c for c in project["commands"]}
    steps = project["workflows"]["mnre-minilm"]
    assert all(step in commands for step in steps)
    assert "seed" in project["vars"]
    reports = [out for step in steps for out in commands[step].get("outputs", []) if out.endswith("/metrics.json")]
    assert reports == ["metrics/mnre_minilm/roc_seed${vars.seed}/metrics.json", "metrics/mnre_minilm/classifier_seed${vars.seed}/metrics.json"]
    assert set(commands["mnre-minilm-compare"]["deps"]) == set(reports)
    roc = commands["mnre-minilm-roc"]["script"][0]
    classifier = commands["mnre-minilm-classifier"]["script"][0]
    assert "--system.seed ${vars.seed}" in roc
    assert classifier.replace("classifier_seed", "roc_seed").replace(" --components.roc_relations.model.head classifier", "") == roc
