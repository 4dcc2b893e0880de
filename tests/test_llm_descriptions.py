"""`descriptions expand` and its spacy-llm task, spacy_roc.RelationDescriptions.v1.

The LLM is a deterministic fake registered in spacy-llm's llm_models registry (a
stand-in for a remote API); it records every prompt it gets in CALLS, so the tests
count the calls that spacy-llm's cache saves. The REST tests use spacy-llm's real
OpenAI model with `requests` replaced by a fake API, so nothing goes out.
"""
import hashlib
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Iterable, List

import pytest
import spacy
import srsly
from typer.testing import CliRunner

pytest.importorskip("spacy_llm")
from spacy_llm.registry import registry  # noqa: E402

from conftest import make_doc  # noqa: E402
from spacy_roc.commands.cli import app  # noqa: E402
from spacy_roc.commands.llm import expand_descriptions, make_descriptions_task, request_doc  # noqa: E402
from spacy_roc.commands.llm.parser import MAX_DESCRIPTION_CHARS, new_descriptions, parse_response  # noqa: E402
from spacy_roc.descriptions import NONE_DESCRIPTION, load_relations  # noqa: E402
from spacy_roc.formats.docbin import write_docbin  # noqa: E402

CALLS: List[str] = []
FAKE = "spacy_roc_test.FakeLLM.v1"
TASK = "spacy_roc.RelationDescriptions.v1"
N_LINES = 8


def fake_response(style: str, prompt: str) -> str:
    """A response that depends only on the style and the prompt: N_LINES numbered
    lines that differ between prompts, a failure, or text without a list."""
    if style == "raise":
        raise RuntimeError("the API is down")
    if style == "chatty":
        return "I would rather talk about the weather."
    digest = hashlib.sha256(prompt.encode("utf8")).hexdigest()[:8]
    lines = [f"{i}. The head entity relates to the tail entity (way {i} of {digest})." for i in range(1, N_LINES + 1)]
    return "Here are the descriptions:\n" + "\n".join(lines) + "\nHope this helps!"


@registry.llm_models(FAKE)
def make_fake_llm(style: str = "numbered"):
    def fake_llm(prompts: Iterable[Iterable[str]]) -> Iterable[Iterable[str]]:
        responses = []
        for prompts_for_doc in prompts:
            for prompt in prompts_for_doc:
                CALLS.append(prompt)
            responses.append([fake_response(style, prompt) for prompt in prompts_for_doc])
        return responses

    return fake_llm


@pytest.fixture(autouse=True)
def clear_calls():
    CALLS.clear()
    yield
    CALLS.clear()


def fake_config(style: str = "numbered"):
    return {"model": {"@llm_models": FAKE, "style": style}}


GIVEN = {"None": ["Nothing links them."], "drew": ["The head person drew the tail shape."], "owns": []}


@pytest.fixture
def given_path(tmp_path):
    path = tmp_path / "given.json"
    srsly.write_json(path, GIVEN)
    return path


@pytest.fixture
def corpus_path(tmp_path):
    nlp = spacy.blank("en")
    docs = [
        make_doc(nlp, "anna drew the red circle", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [(0, 1, "drew"), (1, 0, "None")]),
        make_doc(nlp, "ben owns the blue square", [(0, 1, "PERSON"), (2, 5, "SHAPE")], [(0, 1, "owns")]),
    ]
    path = tmp_path / "train.spacy"
    write_docbin(docs, path)
    return path


def codes(record) -> List[str]:
    """The ROC codes of recorded warnings, in order."""
    return [str(w.message)[1:9] for w in record if str(w.message).startswith("[ROC_")]


def cached(cache_dir) -> List[Path]:
    """The requests in spacy-llm's cache (one .spacy batch per request)."""
    return sorted(Path(cache_dir).rglob("*.spacy"))


# -- expansion ------------------------------------------------------------------------


def test_expand_adds_n_per_label_and_keeps_input(given_path):
    result, n_new = expand_descriptions(given_path, fake_config(), n=3)
    assert list(result) == ["None", "drew", "owns"]
    assert result["None"] == GIVEN["None"]
    assert result["drew"][0] == GIVEN["drew"][0]
    assert len(result["drew"]) == 4 and len(result["owns"]) == 3
    assert n_new == {"None": 0, "drew": 3, "owns": 3}
    assert set(result["drew"][1:]).isdisjoint(result["owns"])
    assert len(CALLS) == 2  # the no-relation label is not sent


def test_prompt_gives_label_existing_descriptions_and_n(given_path):
    expand_descriptions(given_path, fake_config(), n=4)
    drew = next(prompt for prompt in CALLS if '"drew"' in prompt)
    assert GIVEN["drew"][0] in drew
    assert "exactly 4" in drew


@pytest.mark.parametrize("none_label,expected", [("None", [NONE_DESCRIPTION]), ("NA", None)])
def test_none_label_is_seeded_not_sent(tmp_path, none_label, expected):
    path = tmp_path / "given.json"
    srsly.write_json(path, {"None": [], "NA": ["not applicable"], "r": ["x"]})
    result, _ = expand_descriptions(path, fake_config(), n=2, none_label=none_label)
    assert result[none_label] == (expected or ["not applicable"])
    assert len(CALLS) == 2  # "r" and the label that is not the none label


def test_corpus_input_and_its_examples(corpus_path):
    result, n_new = expand_descriptions(corpus_path, fake_config(), n=2)
    assert list(result) == ["None", "drew", "owns"]
    assert result["None"] == [NONE_DESCRIPTION]
    assert n_new == {"None": 0, "drew": 2, "owns": 2}
    drew = next(prompt for prompt in CALLS if '"drew"' in prompt)
    assert "PERSON -> SHAPE" in drew
    assert '"anna drew the red circle" (head: "anna"; tail: "the red circle")' in drew
    assert "ben owns" not in drew


def test_examples_option_feeds_the_prompts(given_path, corpus_path):
    expand_descriptions(given_path, fake_config(), n=2, examples=corpus_path)
    owns = next(prompt for prompt in CALLS if '"owns"' in prompt)
    assert '"ben owns the blue square" (head: "ben"; tail: "the blue square")' in owns
    assert "anna drew" not in owns


# -- entries in object form ----------------------------------------------------------

SPOUSE = {
    "name": "spouse", "descriptions": ["The head person is married to the tail person."],
    "aliases": ["wife", "husband"], "head_types": ["a person"], "tail_types": ["a person"],
}


def test_object_entries_keep_their_fields_and_get_new_descriptions(tmp_path):
    path = tmp_path / "given.json"
    child = {"head_types": ["a person"], "tail_types": ["a person"], "name": "child"}
    srsly.write_json(path, {"None": {"name": "no relation"}, "P26": SPOUSE, "P40": child, "drew": GIVEN["drew"]})
    result, n_new = expand_descriptions(path, fake_config(), n=2)
    assert n_new == {"None": 0, "P26": 2, "P40": 2, "drew": 2}
    assert result["None"] == {"name": "no relation", "descriptions": []}
    assert {key: value for key, value in result["P26"].items() if key != "descriptions"} == {
        key: value for key, value in SPOUSE.items() if key != "descriptions"
    }
    assert result["P26"]["descriptions"][0] == SPOUSE["descriptions"][0] and len(result["P26"]["descriptions"]) == 3
    assert list(result["P40"]) == ["name", "descriptions", "head_types", "tail_types"]
    assert len(result["P40"]["descriptions"]) == 2 and isinstance(result["drew"], list) and len(result["drew"]) == 3
    srsly.write_json(tmp_path / "out.json", result)
    relations = load_relations(tmp_path / "out.json")
    assert set(result["P26"]["descriptions"]) < set(relations["P26"].texts)
    assert relations["P40"].typed and set(result["P40"]["descriptions"]) < set(relations["P40"].texts)


def test_prompt_gives_name_and_aliases_when_the_entry_has_them(tmp_path):
    path = tmp_path / "given.json"
    srsly.write_json(path, {"P26": SPOUSE, "drew": {"descriptions": GIVEN["drew"]}})
    expand_descriptions(path, fake_config(), n=2)
    spouse = next(prompt for prompt in CALLS if '"P26"' in prompt)
    drew = next(prompt for prompt in CALLS if '"drew"' in prompt)
    assert "Relation name: spouse" in spouse and "Other names of the relation: wife; husband" in spouse
    assert "Relation name" not in drew and "Other names" not in drew


def test_object_entry_without_text_falls_back_like_a_list(tmp_path):
    path = tmp_path / "given.json"
    srsly.write_json(path, {"P40": {"name": "child"}, "x": {"head_types": ["a"], "tail_types": ["b"]}, "y": []})
    with pytest.warns(UserWarning) as record:
        result, _ = expand_descriptions(path, fake_config("raise"), n=2)
    assert codes(record) == ["ROC_W301", "ROC_W301", "ROC_W305", "ROC_W301", "ROC_W305"]  # none for "child"
    assert "'x' has no description" in str(record[2].message) and "'y' has no" in str(record[4].message)
    assert result == {
        "P40": {"name": "child", "descriptions": []},
        "x": {"descriptions": ["x"], "head_types": ["a"], "tail_types": ["b"]},
        "y": ["y"],
    }
    assert load_relations(result)["P40"].texts == ("child",)


def test_cache_asks_again_only_for_a_request_with_name_or_aliases(given_path, tmp_path):
    expand_descriptions(given_path, fake_config(), n=2, cache_dir=tmp_path / "cache")
    srsly.write_json(given_path, {**GIVEN, "drew": {"descriptions": GIVEN["drew"]}, "owns": {"descriptions": []}})
    CALLS.clear()
    result, n_new = expand_descriptions(given_path, fake_config(), n=2, cache_dir=tmp_path / "cache")
    assert CALLS == [] and n_new["drew"] == 2  # the same requests as the lists
    srsly.write_json(given_path, {**GIVEN, "owns": {"name": "owner of", "descriptions": []}})
    result, _ = expand_descriptions(given_path, fake_config(), n=2, cache_dir=tmp_path / "cache")
    assert len(CALLS) == 1 and "Relation name: owner of" in CALLS[0]
    assert result["owns"]["name"] == "owner of"


# -- the response ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1. First one.\n2) Second one.\n- Third one.", ["First one.", "Second one.", "Third one."]),
        ("Sure:\n\n1. A head relation.\n2.   \n3. a head  relation\n-\n4. \"Quoted.\"", ["A head relation.", "Quoted."]),
        ("10. Ten.\n1.5 million people agree.\nNo list here.\n---\n- ...", ["Ten."]),
        ("I cannot help with that.", []),
        ("", []),
    ],
)
def test_parse_response(text, expected):
    assert parse_response(text) == expected


def test_parse_response_drops_too_long_lines():
    fits, too_long = "a" * MAX_DESCRIPTION_CHARS, "b" * (MAX_DESCRIPTION_CHARS + 1)
    assert parse_response(f"1. {too_long}\n2. {fits}") == [fits]


def test_new_descriptions_skip_existing_and_stop_at_n():
    items = ["The head owns the tail", "New one.", "Another.", "Third."]
    assert new_descriptions(items, ["the head owns the tail."], 2) == ["New one.", "Another."]


# -- cache (spacy-llm's BatchCache) --------------------------------------------------


def test_cache_makes_a_rerun_call_nothing(given_path, tmp_path):
    first, _ = expand_descriptions(given_path, fake_config(), n=3, cache_dir=tmp_path / "cache")
    assert len(CALLS) == 2
    assert len(cached(tmp_path / "cache")) == 2
    CALLS.clear()
    second, n_new = expand_descriptions(given_path, fake_config(), n=3, cache_dir=tmp_path / "cache")
    assert CALLS == []
    assert second == first and n_new["owns"] == 3


def test_cache_is_keyed_by_model_config_and_task(given_path, tmp_path):
    expand_descriptions(given_path, fake_config(), n=3, cache_dir=tmp_path / "cache")
    CALLS.clear()
    expand_descriptions(given_path, fake_config(), n=2, cache_dir=tmp_path / "cache")
    assert len(CALLS) == 2  # another n
    CALLS.clear()
    expand_descriptions(given_path, {"model": {"@llm_models": FAKE}}, n=2, cache_dir=tmp_path / "cache")
    assert len(CALLS) == 2  # another model config
    CALLS.clear()
    expand_descriptions(given_path, {"model": {"@llm_models": FAKE}}, n=2, cache_dir=tmp_path / "cache")
    assert CALLS == []


def test_cache_asks_again_for_a_changed_request_only(given_path, corpus_path, tmp_path):
    expand_descriptions(given_path, fake_config(), n=2, cache_dir=tmp_path / "cache")
    srsly.write_json(given_path, {**GIVEN, "drew": ["The head person drew the tail shape.", "A second one."]})
    CALLS.clear()
    result, _ = expand_descriptions(given_path, fake_config(), n=2, cache_dir=tmp_path / "cache")
    assert len(CALLS) == 1 and "A second one." in CALLS[0]
    assert result["drew"][:2] == ["The head person drew the tail shape.", "A second one."]
    CALLS.clear()
    expand_descriptions(given_path, fake_config(), n=2, examples=corpus_path, cache_dir=tmp_path / "cache")
    assert len(CALLS) == 2  # the examples are part of the requests


# -- faults ---------------------------------------------------------------------------


def test_model_error_warns_and_keeps_descriptions(given_path, tmp_path):
    with pytest.warns(UserWarning) as record:
        result, n_new = expand_descriptions(given_path, fake_config("raise"), n=3, cache_dir=tmp_path / "cache")
    assert codes(record) == ["ROC_W301", "ROC_W301", "ROC_W305"]
    assert "RuntimeError: the API is down" in str(record[0].message)
    assert result["drew"] == GIVEN["drew"] and result["None"] == GIVEN["None"]
    assert result["owns"] == ["owns"]  # nothing to keep: its name (ROC_W305)
    assert sum(n_new.values()) == 0
    assert cached(tmp_path / "cache") == []


def test_unparsable_response_warns_and_is_not_cached(given_path, tmp_path):
    for _ in range(2):
        with pytest.warns(UserWarning) as record:
            result, _ = expand_descriptions(given_path, fake_config("chatty"), n=3, cache_dir=tmp_path / "cache")
        assert codes(record) == ["ROC_W302", "ROC_W302", "ROC_W305"]
        assert result["drew"] == GIVEN["drew"]
    assert len(CALLS) == 4  # the rerun asked again
    assert cached(tmp_path / "cache") == []


def test_fewer_new_lines_than_asked_warns(given_path):
    with pytest.warns(UserWarning, match="ROC_W303") as record:
        result, n_new = expand_descriptions(given_path, fake_config(), n=N_LINES + 2)
    assert n_new["drew"] == N_LINES
    assert "gave 8 new description(s) for relation 'drew', not the 10" in str(record[0].message)


def test_unknown_model_fails_before_any_call(given_path, tmp_path):
    with pytest.raises(ValueError, match="ROC_E302.*spacy_roc_test.Nope.v1.*spacy.GPT-4.v3"):
        expand_descriptions(given_path, {"model": {"@llm_models": "spacy_roc_test.Nope.v1"}}, cache_dir=tmp_path / "c")
    assert CALLS == [] and not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    "config,code",
    [({"model": {"@llm_models": FAKE, "temperature": 0.5}}, "ROC_E303"), ({"llm": {}}, "ROC_E301"), ({"model": {"name": "gpt-4"}}, "ROC_E301")],
)
def test_bad_model_config(given_path, config, code):
    with pytest.raises(ValueError, match=code):
        expand_descriptions(given_path, config)
    assert CALLS == []


@pytest.mark.parametrize(
    "content,reason",
    [
        ('["a", "b"]', "JSON list, not an object"),
        ('{"r": [1, 2]}', "'r' is not a list of strings"),
        ("{broken", "not valid JSON"),
        ('{"r": {"name": "r", "label": "r"}}', r"ROC_E040\] The description entry of relation 'r' has unknown field\(s\) \['label'\]"),
        ('{"r": {"head_types": ["PER"]}}', r"ROC_E039\] Relation 'r' names entity types for one side only"),
        ('{"r": {"aliases": ["a", 1]}}', "'aliases' of 'r' is not a list of strings"),
        ('{"r": {"name": ["r"]}}', "the name of 'r' is not a string"),
    ],
)
def test_malformed_input(tmp_path, content, reason):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf8")
    with pytest.raises(ValueError, match=f"ROC_E304.*{reason}"):
        expand_descriptions(path, fake_config())


def test_missing_or_broken_files(tmp_path, given_path):
    with pytest.raises(ValueError, match="ROC_E304.*no such file"):
        expand_descriptions(tmp_path / "nope.json", fake_config())
    (tmp_path / "bad.spacy").write_bytes(b"not a docbin")
    with pytest.raises(ValueError, match="ROC_E305"):
        expand_descriptions(tmp_path / "bad.spacy", fake_config())
    with pytest.raises(ValueError, match="ROC_E305.*no such file"):
        expand_descriptions(given_path, fake_config(), examples=tmp_path / "nope.spacy")
    with pytest.raises(ValueError, match="ROC_E300.*no such file"):
        expand_descriptions(given_path, tmp_path / "nope.cfg")
    with pytest.raises(ValueError, match="ROC_E306"):
        expand_descriptions(given_path, fake_config(), n=0)
    assert CALLS == []


def test_broken_template(given_path, tmp_path):
    template = tmp_path / "prompt.jinja2"
    template.write_text("{{ label }} {{ unknown_variable }}", encoding="utf8")
    with pytest.raises(ValueError, match="ROC_E307.*unknown_variable"):
        expand_descriptions(given_path, fake_config(), template=template)
    template.write_text("{% if label %}unclosed", encoding="utf8")
    with pytest.raises(ValueError, match="ROC_E307.*TemplateSyntaxError"):
        expand_descriptions(given_path, fake_config(), template=template)
    assert CALLS == []
    template.write_text("Label {{ label }}; {{ n }} lines, please.", encoding="utf8")
    expand_descriptions(given_path, fake_config(), template=template)
    assert sorted(CALLS) == ["Label drew; 5 lines, please.", "Label owns; 5 lines, please."]


# -- a real REST model: OpenAI through spacy-llm, with `requests` replaced ----------


class FakeOpenAI:
    """Stands in for `requests` towards the OpenAI API: records the URLs requested;
    offline, each request fails as without network; online, it answers like the API."""

    def __init__(self) -> None:
        self.made: List[str] = []
        self.online = False

    def get(self, url, **kwargs):
        return self.respond(url, {"data": [{"id": "gpt-4o-mini"}]})

    def post(self, url, json=None, **kwargs):
        content = fake_response("numbered", json["messages"][0]["content"])
        return self.respond(url, {"choices": [{"message": {"role": "assistant", "content": content}}]})

    def respond(self, url, payload):
        import requests

        self.made.append(url)
        if not self.online:
            raise requests.ConnectionError("offline test")
        response = requests.Response()
        response.status_code, response._content = 200, srsly.json_dumps(payload).encode("utf8")
        return response


@pytest.fixture
def openai_api(monkeypatch):
    import requests

    api = FakeOpenAI()
    monkeypatch.setattr(requests, "get", api.get)
    monkeypatch.setattr(requests, "post", api.post)
    return api


OPENAI = {"model": {"@llm_models": "spacy.GPT-4.v3", "name": "gpt-4o-mini"}}
MODELS_URL, CHAT_URL = "https://api.openai.com/v1/models", "https://api.openai.com/v1/chat/completions"


def test_missing_api_key_warns_per_label_and_output_is_input(monkeypatch, openai_api, tmp_path):
    given = {"None": ["Nothing links them."], "drew": ["The head drew the tail."], "owns": ["The head owns the tail."]}
    srsly.write_json(tmp_path / "given.json", given)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.warns(UserWarning) as record:
        result, n_new = expand_descriptions(tmp_path / "given.json", OPENAI, n=3, cache_dir=tmp_path / "cache")
    assert codes(record) == ["ROC_W300", "ROC_W300"]
    assert "OPENAI_API_KEY" in str(record[0].message) and "'drew' keeps its 1" in str(record[0].message)
    assert openai_api.made == [MODELS_URL]  # spacy-llm's check when building, tried once
    assert result == given and sum(n_new.values()) == 0


def test_unreachable_rest_model_warns_per_label(given_path, monkeypatch, openai_api):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.warns(UserWarning) as record:
        result, _ = expand_descriptions(given_path, OPENAI, n=3)
    assert codes(record) == ["ROC_W304", "ROC_W304", "ROC_W305"]
    assert "ConnectionError: offline test" in str(record[0].message)
    assert openai_api.made == [MODELS_URL]  # built once, at the health check
    assert result["drew"] == GIVEN["drew"]


def test_cached_rest_responses_need_no_key_and_no_request(given_path, monkeypatch, openai_api, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    openai_api.online = True
    first, _ = expand_descriptions(given_path, OPENAI, n=2, cache_dir=tmp_path / "cache")
    assert openai_api.made == [MODELS_URL, CHAT_URL, CHAT_URL]
    assert len(first["owns"]) == 2 and first["owns"][0].startswith("The head entity relates")
    monkeypatch.delenv("OPENAI_API_KEY")
    openai_api.online, openai_api.made = False, []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second, n_new = expand_descriptions(given_path, OPENAI, n=2, cache_dir=tmp_path / "cache")
    assert openai_api.made == []  # the model was not even built
    assert second == first and n_new == {"None": 0, "drew": 2, "owns": 2}


# -- the task in spacy-llm's registry and `llm` pipe ---------------------------------


@pytest.mark.filterwarnings("ignore:Task supports sharding")
def test_task_runs_in_an_llm_pipe_from_config():
    nlp = spacy.blank("en")
    llm = nlp.add_pipe("llm", config={"task": {"@llm_tasks": TASK, "n": 2}, "model": {"@llm_models": FAKE}})
    doc = llm(request_doc(nlp, "drew", ["The head person drew the tail shape."], ["PERSON -> SHAPE"]))
    assert len(CALLS) == 1 and "PERSON -> SHAPE" in CALLS[0] and "exactly 2 new" in CALLS[0]
    digest = hashlib.sha256(CALLS[0].encode("utf8")).hexdigest()[:8]
    assert doc._.roc_descriptions == [f"The head entity relates to the tail entity (way {i} of {digest})." for i in (1, 2)]


def test_task_factory_checks_n():
    with pytest.raises(ValueError, match="ROC_E306"):
        registry.resolve({"task": {"@llm_tasks": TASK, "n": 0}})
    assert make_descriptions_task(n=3).n == 3


def test_task_resolves_by_name_in_a_fresh_interpreter(tmp_path):
    """A config that names the task resolves with only spaCy and spacy-llm imported:
    spacy-llm's llm_tasks registry finds it through its entry point (group
    thinc_llm_tasks), and spacy_roc is imported by that lookup, not before."""
    config = tmp_path / "llm.cfg"
    config.write_text(f'[task]\n@llm_tasks = "{TASK}"\nn = 3\n', encoding="utf8")
    program = (
        "import sys, spacy, spacy_llm\n"
        "from spacy_llm.registry import registry\n"
        "from thinc.api import Config\n"
        "assert 'spacy_roc' not in sys.modules\n"
        f"task = registry.resolve(Config().from_disk({str(config)!r}))['task']\n"
        "print(type(task).__module__, type(task).__name__, task.n)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["spacy_roc.commands.llm.task", "RelationDescriptionsTask", "3"]


def test_cache_keys_respect_the_order_of_a_request(tmp_path):
    """spacy-llm's cache keys a doc by the sum of its token hashes; a request with
    head and tail swapped must not get the cached answer of the other."""
    from spacy_llm.cache import BatchCache

    nlp = spacy.blank("en")
    forward = request_doc(nlp, "drew", ["The head person drew the tail shape."], ["PERSON -> SHAPE"])
    swapped = request_doc(nlp, "drew", ["The tail person drew the head shape."], ["PERSON -> SHAPE"])

    def request_tokens(doc):  # the tokens after the digest
        start = doc.text.index(" ") + 1
        return sorted(t.text for t in doc if t.idx >= start)

    assert request_tokens(forward) == request_tokens(swapped)  # the same tokens, in another order
    assert BatchCache._doc_id(forward) != BatchCache._doc_id(swapped)
    llm_config = {"task": {"@llm_tasks": TASK, "n": 2}, "model": {"@llm_models": FAKE}}
    cache = {"@llm_misc": "spacy.BatchCache.v1", "path": str(tmp_path / "cache"), "batch_size": 1, "max_batches_in_mem": 4}
    llm = nlp.add_pipe("llm", config={**llm_config, "cache": cache})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = llm(forward)._.roc_descriptions
        second = llm(swapped)._.roc_descriptions
    assert len(CALLS) == 2 and "The tail person drew the head shape." in CALLS[1]
    assert first != second


# -- CLI ------------------------------------------------------------------------------


def write_cfg(path, model: str) -> None:
    path.write_text(f'[model]\n@llm_models = "{model}"\n', encoding="utf8")


def test_cli_end_to_end(given_path, corpus_path, tmp_path):
    cfg, output = tmp_path / "llm.cfg", tmp_path / "out" / "expanded.json"
    write_cfg(cfg, FAKE)
    args = ["descriptions", "expand", str(given_path), str(output), "--config", str(cfg), "--n", "2", "--examples", str(corpus_path), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 relations, 6 descriptions (4 new)" in result.output
    written = srsly.read_json(output)
    assert written["drew"][0] == GIVEN["drew"][0] and len(written["drew"]) == 3
    assert len(cached(tmp_path / "out" / "llm_cache")) == 2
    CALLS.clear()
    assert CliRunner().invoke(app, args).exit_code == 0
    assert CALLS == [] and srsly.read_json(output) == written


def test_cli_object_form_in_and_out(tmp_path):
    cfg, given, output = tmp_path / "llm.cfg", tmp_path / "given.json", tmp_path / "expanded.json"
    write_cfg(cfg, FAKE)
    srsly.write_json(given, {"None": ["Nothing links them."], "P26": SPOUSE})
    args = ["descriptions", "expand", str(given), str(output), "--config", str(cfg), "--n", "2", "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 relations, 4 descriptions (2 new)" in result.output
    written = srsly.read_json(output)
    assert written["None"] == ["Nothing links them."]
    assert written["P26"]["aliases"] == SPOUSE["aliases"] and written["P26"]["head_types"] == SPOUSE["head_types"]
    assert set(written["P26"]["descriptions"]) <= set(load_relations(output)["P26"].texts)


def test_cli_code_registers_a_model(corpus_path, tmp_path):
    code, cfg, output = tmp_path / "my_llm.py", tmp_path / "llm.cfg", tmp_path / "expanded.json"
    code.write_text(
        "from spacy_llm.registry import registry\n\n"
        "@registry.llm_models('spacy_roc_test.CodeLLM.v1')\n"
        "def make_code_llm():\n"
        "    return lambda prompts: [['1) The head one.\\n2) The tail two.' for _ in p] for p in prompts]\n",
        encoding="utf8",
    )
    write_cfg(cfg, "spacy_roc_test.CodeLLM.v1")
    args = ["descriptions", "expand", str(corpus_path), str(output), "--config", str(cfg), "--code", str(code), "--n", "2", "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert srsly.read_json(output) == {
        "None": [NONE_DESCRIPTION], "drew": ["The head one.", "The tail two."], "owns": ["The head one.", "The tail two."]
    }


def test_cli_unknown_model_fails(given_path, tmp_path):
    cfg, output = tmp_path / "llm.cfg", tmp_path / "expanded.json"
    write_cfg(cfg, "spacy_roc_test.Nope.v1")
    result = CliRunner().invoke(app, ["descriptions", "expand", str(given_path), str(output), "--config", str(cfg)])
    assert result.exit_code == 1
    assert "ROC_E302" in result.output
    assert not output.exists() and not (tmp_path / "llm_cache").exists()


def test_cli_code_that_fails(given_path, tmp_path):
    code, cfg = tmp_path / "broken.py", tmp_path / "llm.cfg"
    code.write_text("raise ImportError('no such package')\n", encoding="utf8")
    write_cfg(cfg, FAKE)
    args = ["descriptions", "expand", str(given_path), str(tmp_path / "out.json"), "--config", str(cfg), "--code", str(code)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "ROC_E309" in result.output and "no such package" in result.output
    assert CALLS == []


def test_cli_without_spacy_llm_names_the_extra(given_path, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "spacy_llm", None)  # not installed
    for name in [name for name in sys.modules if name.startswith("spacy_roc.commands.llm")]:
        monkeypatch.delitem(sys.modules, name)
    cfg, output = tmp_path / "llm.cfg", tmp_path / "expanded.json"
    write_cfg(cfg, FAKE)
    result = CliRunner().invoke(app, ["descriptions", "expand", str(given_path), str(output), "--config", str(cfg)])
    assert result.exit_code == 1
    assert "ROC_E308" in result.output and "spacy-roc[llm]" in result.output
    assert not output.exists() and CALLS == []
