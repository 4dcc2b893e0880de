"""Training memory does not grow with the steps: the network's optimizer step updates
the weights in place (thinc's PyTorchShim chained a new tensor per parameter per step)
and its passes run without oneDNN (whose primitive cache grows with every new batch
shape). Each check runs in a fresh interpreter, so that the suite's other objects do
not count, and trains a tiny model on batches of ever other shapes."""
import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent(
    """
    import gc, random, sys, warnings
    warnings.simplefilter("ignore")
    import torch
    torch.set_num_threads(1)
    import spacy
    from spacy.tokens import Doc, Span
    from spacy.training import Example
    from thinc.api import Adam, fix_random_seed
    from spacy_roc.extensions import make_record

    bert_dir, n_steps, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "thinc":  # thinc's own optimizer step and oneDNN on: the state before the fixes
        from thinc.shims import PyTorchShim
        from spacy_roc.model import shim
        shim.InPlaceShim.finish_update = PyTorchShim.finish_update
        shim.InPlaceShim.predict = PyTorchShim.predict
        shim.InPlaceShim.begin_update = PyTorchShim.begin_update

    def rss_mb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

    fix_random_seed(0)
    nlp = spacy.blank("en")
    model = {
        "@architectures": "spacy_roc.ROCModel.v2", "fusion_layers": 1, "bf16": False, "image_encoder": None,
        "pair_encoder": {"@architectures": "spacy_roc.InlineMarkers.v1"},
        "text_encoder": {"@architectures": "spacy_roc.HFTextEncoder.v1", "name": bert_dir, "max_length": 48, "pretrained": True},
    }
    nlp.add_pipe("roc_relations", config={"model": model, "candidates": {"@misc": "spacy_roc.all_pairs.v1", "restrict_types": False}})
    words = "anna ben drew the red blue circle square gift for and with near".split()
    rng = random.Random(0)
    examples = []
    for _ in range(64):
        n = rng.randint(6, 30)
        doc = Doc(nlp.vocab, words=[rng.choice(words) for _ in range(n)])
        doc.ents = [Span(doc, s, s + 1, label="X") for s in sorted(rng.sample(range(n), rng.randint(2, 5)))]
        doc._.relations = [make_record((a.start, a.end), (b.start, b.end), rng.choice(["None", "r1", "r2"])) for a in doc.ents for b in doc.ents if a != b]
        predicted = doc.copy()
        predicted._.relations = []
        examples.append(Example(predicted, doc))
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.001)
    readings = []
    for step in range(1, 2 * n_steps + 1):
        nlp.update(rng.sample(examples, rng.randint(2, 12)), sgd=optimizer)  # every batch of another shape
        if step in (n_steps, 2 * n_steps):
            gc.collect()
            readings += [rss_mb(), len(gc.get_objects())]
    print(*readings)
    """
)


def growth(bert_dir, mode, n_steps=250):
    """RSS (MB) and live Python objects added between step n_steps and 2 * n_steps."""
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(bert_dir), str(n_steps), mode], capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rss_n, objects_n, rss_2n, objects_2n = map(float, result.stdout.split())
    return rss_2n - rss_n, objects_2n - objects_n


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_training_memory_does_not_grow_with_the_steps(tiny_bert_dir):
    rss, objects = growth(tiny_bert_dir, "fixed")
    # thinc's step added about 54 objects (tensor, capsule, array) per step and 63 and
    # 76 MB over these 250 steps in two runs; with the fix, -5.5 and -4.9 MB (glibc's
    # free heap moves by about 20 MB from run to run at this size, so fewer steps
    # would not tell them apart)
    assert objects < 100
    assert rss < 25.0


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_the_bounds_catch_thincs_step(tiny_bert_dir):
    """The same run with thinc's optimizer step and oneDNN on breaks the bounds above:
    they can fail."""
    rss, objects = growth(tiny_bert_dir, "thinc")
    assert objects > 5000 and rss > 25.0
