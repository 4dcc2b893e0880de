"""The CLI's shared machinery (spacy_roc.commands.cli): string choices checked by typer,
and expected errors ending a command with their message and exit code 1."""
import re

import pytest
import typer
from typer.testing import CliRunner

from spacy_roc.commands.cli import Backend, OnError, Variant, _fails_as, app

RUNNER = CliRunner()


def flat(output: str) -> str:
    """The output as one line: typer's error box (borders, wrapped lines) removed."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def test_choices_are_the_modules():
    # The modules keep their own check (ROC_E101, ROC_E509, ROC_E026) for Python callers.
    from spacy_roc.commands.annotate import BACKENDS
    from spacy_roc.descriptions import VARIANTS
    from spacy_roc.formats import mnre, prodigy

    assert tuple(e.value for e in OnError) == mnre.ON_ERROR == prodigy.ON_ERROR
    assert tuple(e.value for e in Backend) == BACKENDS
    assert tuple(e.value for e in Variant) == VARIANTS


def _bad_choices(tmp_path):
    """(args, option, choices) for each Enum option of the CLI, with a bad value."""
    data = tmp_path / "data.txt"
    data.write_text("{}\n", encoding="utf8")
    out = str(tmp_path / "out.spacy")
    return [
        (["convert", "mnre", str(data), out, "--on-error", "maybe"], "--on-error", OnError),
        (["convert", "prodigy", str(data), out, "--on-error", "maybe"], "--on-error", OnError),
        (["annotate", "model", str(data), str(tmp_path / "out.jsonl"), "--backend", "spark"], "--backend", Backend),
        (["descriptions", "variant", str(data), str(data), str(tmp_path / "o.json"), "--variant", "two"], "--variant", Variant),
    ]


def test_bad_choice_refused_by_typer(tmp_path):
    for args, option, choices in _bad_choices(tmp_path):
        result = RUNNER.invoke(app, args)
        text = flat(result.output)
        assert result.exit_code == 2, (args, result.output)
        assert f"Invalid value for '{option}'" in text, text
        assert "is not one of " + ", ".join(f"'{e.value}'" for e in choices) in text, text
        assert not (tmp_path / "out.spacy").exists()


def test_good_choice_reaches_the_command(tmp_path):
    # "skip" passes typer and reaches the converter, which skips the malformed line.
    path = tmp_path / "x.txt"
    path.write_text("{'token': ['oops'\n", encoding="utf8")
    result = RUNNER.invoke(app, ["convert", "mnre", str(path), str(tmp_path / "o.spacy"), "--no-progress", "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    assert "Skipped line 1" in result.output and "Wrote 0 docs" in result.output


def test_coded_value_error_fails_with_code(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("{'token': ['oops'\n", encoding="utf8")
    result = RUNNER.invoke(app, ["convert", "mnre", str(path), str(tmp_path / "o.spacy"), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "Conversion failed" in result.output and "ROC_E100" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o.spacy").exists()
    (tmp_path / "empty").mkdir()
    result = RUNNER.invoke(app, ["compare", str(tmp_path / "empty")])
    assert result.exit_code == 1, result.output
    assert "Nothing to compare" in result.output and "ROC_E031" in result.output


def test_os_error_fails_with_code(tmp_path):
    data = tmp_path / "data.spacy"
    data.write_bytes(b"")
    result = RUNNER.invoke(app, ["evaluate", str(tmp_path / "no_pipeline"), str(data), str(tmp_path / "report")])
    assert result.exit_code == 1, result.output
    assert "Evaluation failed" in result.output and "E050" in result.output


def test_fails_as_decorator():
    # Under @app.command, as the zeroshot commands use it: typer still reads the
    # signature and the docstring; other exceptions pass through.
    mini = typer.Typer()

    @mini.command()
    @_fails_as("Could not greet")
    def greet(name: str = typer.Argument(..., help="Who")) -> None:
        """Greet NAME."""
        if name == "oops":
            raise ValueError("[ROC_E999] bad name")
        if name == "bug":
            raise KeyError(name)
        print(f"hello {name}")

    assert "Greet NAME." in RUNNER.invoke(mini, ["--help"]).output
    assert RUNNER.invoke(mini, ["ada"]).output.strip() == "hello ada"
    result = RUNNER.invoke(mini, ["oops"])
    assert result.exit_code == 1 and "Could not greet" in result.output and "[ROC_E999] bad name" in result.output
    result = RUNNER.invoke(mini, ["bug"])
    assert isinstance(result.exception, KeyError)
    with pytest.raises(SystemExit) as exit_info:
        with _fails_as("Failed", (KeyError,)):
            raise KeyError("k")
    assert exit_info.value.code == 1
