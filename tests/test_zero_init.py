"""An untrained roc_relations model scores pairs exactly as its bare pretrained text
encoder does (the residual head starts at zero and the label side is a frozen copy).
tests/test_routing.py checks that a trained model scores new relations so."""
import numpy
import pytest
import torch
from torch.nn import functional as F
from transformers import AutoModel, AutoTokenizer

from conftest import DESCRIPTIONS, corpus_examples, fresh_docs, initialize_quietly, make_nlp, train
from spacy_roc.inputs import RelationSet

TYPE_WEIGHT = 0.2
RELATIONS = {
    **DESCRIPTIONS,
    "drew": {"name": "drew", "descriptions": DESCRIPTIONS["drew"], "aliases": ["painted"], "head_types": ["person"], "tail_types": ["shape"]},
}


def mean_pool(model, tokenizer, words_or_texts, split_words):
    batch = tokenizer(words_or_texts, is_split_into_words=split_words, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return batch, states, (states * mask).sum(1) / mask.sum(1)


def unit_mean(model, tokenizer, texts):
    """The normalised mean of the texts' unit vectors (zero vector for no texts)."""
    if not texts:
        return None
    _, _, pooled = mean_pool(model, tokenizer, list(texts), split_words=False)
    return F.normalize(F.normalize(pooled, dim=-1).sum(0), dim=-1)


def marked_words(doc, head, tail):
    """The doc's words with the typed markers of the pair, and the words of each
    mention: from the one after its opening markers to the one before its closing
    marker (a nested mention's markers included)."""
    words, first, close = [], {}, {}
    for i in range(len(doc) + 1):
        for span, marker in ((head, "@"), (tail, "#")):
            if i == span.end:
                close[marker] = len(words)
                words.append(marker)
        for span, (outer, inner) in ((head, ("@", "*")), (tail, ("#", "^"))):
            if i == span.start:
                words += [outer, inner, span.label_.lower(), inner]
                first[outer] = len(words)
        if i < len(doc):
            words.append(doc[i].text)
    return words, [(first[m], close[m]) for m in ("@", "#")]


def bare_scores(bert_dir, docs, pairs, relations, marked):
    """(1 - 2a) cos(pooled text, relation) + a cos(head mention, head types) + a
    cos(tail mention, tail types), with the bare encoder; an untyped relation's type
    terms are the best of the typed relations'."""
    tokenizer, model = AutoTokenizer.from_pretrained(bert_dir), AutoModel.from_pretrained(bert_dir).eval()
    rel = torch.stack([unit_mean(model, tokenizer, [r.name, *r.descriptions, *r.aliases]) for r in relations.relations])
    rows = []
    for doc, doc_pairs in zip(docs, pairs):
        for head, tail in doc_pairs:
            if marked:
                words, mentions = marked_words(doc, head, tail)
            else:
                words, mentions = [t.text for t in doc], [(head.start, head.end), (tail.start, tail.end)]
            batch, states, pooled = mean_pool(model, tokenizer, [words], split_words=True)
            word_ids = batch.word_ids(0)
            entities = [states[0, [j for j, w in enumerate(word_ids) if w is not None and s <= w < e]].mean(0) for s, e in mentions]
            context = F.normalize(pooled[0], dim=-1) @ rel.t()
            typed = [r for r in relations.relations if r.typed]
            head_match = {r: F.normalize(entities[0], dim=-1) @ unit_mean(model, tokenizer, r.head_types) for r in typed}
            tail_match = {r: F.normalize(entities[1], dim=-1) @ unit_mean(model, tokenizer, r.tail_types) for r in typed}
            row = []
            for r, relation in enumerate(relations.relations):
                if not typed:
                    row.append(context[r])
                    continue
                # an untyped relation takes any entity: the best match of the typed ones
                head = head_match[relation] if relation.typed else max(head_match.values())
                tail = tail_match[relation] if relation.typed else max(tail_match.values())
                row.append((1 - 2 * TYPE_WEIGHT) * context[r] + TYPE_WEIGHT * (head + tail))
            rows.append(torch.stack(row))
    return torch.stack(rows).numpy()


@pytest.mark.parametrize("encoder,marked", [("spacy_roc.InlineMarkers.v1", True), ("spacy_roc.LevitatedMarkers.v2", False)])
def test_untrained_model_scores_as_the_bare_encoder(tiny_bert_dir, encoder, marked):
    nlp = make_nlp(tiny_bert_dir, spans_key="entities", pair_encoder={"@architectures": encoder}, type_weight=TYPE_WEIGHT)
    nlp.config["initialize"]["components"]["roc_relations"] = {"descriptions": RELATIONS}
    examples = corpus_examples()
    initialize_quietly(nlp, examples)
    pipe = nlp.get_pipe("roc_relations")
    batch = pipe._batch(fresh_docs(examples))
    logits = pipe.model.predict(batch)
    scale = float(torch.exp(pipe.model.get_ref("network").shims[0]._model.log_scale.detach()))
    expected = bare_scores(tiny_bert_dir, batch.docs, batch.pairs, RelationSet.from_dict(pipe.relation_set), marked)
    assert logits.shape == expected.shape and logits.shape[0] > 10
    numpy.testing.assert_allclose(logits / scale, expected, atol=1e-5)
