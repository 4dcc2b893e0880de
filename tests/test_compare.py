"""Comparing reports across runs and seeds (python -m spacy_roc compare)."""
import json
import statistics

import pytest
from typer.testing import CliRunner

from spacy_roc.commands.cli import app
from spacy_roc.commands.compare import collect_runs, comparison_table, summarize_runs

RUNS = {
    "roc_seed0": 0.61,
    "roc_seed1": 0.65,
    "roc_seed2": 0.60,
    "classifier_seed0": 0.55,
    "classifier_seed3": 0.57,
}


def write_runs(root, runs=RUNS):
    for name, f in runs.items():
        (root / name).mkdir(parents=True)
        metrics = {"rel_acc": f + 0.2, "rel_micro_p": f + 0.05, "rel_micro_r": f - 0.05, "rel_micro_f": f}
        (root / name / "metrics.json").write_text(json.dumps(metrics))
    (root / "notes").mkdir()  # not a {run}_seed{n} folder: ignored
    (root / "notes" / "metrics.json").write_text(json.dumps({"rel_micro_f": 1.0}))


def test_collect_and_summarize(tmp_path):
    write_runs(tmp_path)
    runs = collect_runs(tmp_path)
    assert set(runs) == {"roc", "classifier"}
    assert sorted(runs["classifier"]) == [0, 3]
    rows = {row["run"]: row for row in summarize_runs(runs)}
    mean, std = rows["roc"]["rel_micro_f"]
    assert mean == pytest.approx(statistics.fmean([0.61, 0.65, 0.60]))
    assert std == pytest.approx(statistics.stdev([0.61, 0.65, 0.60]))
    assert rows["classifier"]["seeds"] == [0, 3]
    assert rows["classifier"]["rel_acc"][0] == pytest.approx(0.76)


def test_single_seed_has_zero_spread(tmp_path):
    write_runs(tmp_path, {"names_seed0": 0.5})
    row = summarize_runs(collect_runs(tmp_path))[0]
    assert row["rel_micro_f"] == (0.5, 0.0)


def test_table_order_and_cells(tmp_path):
    write_runs(tmp_path)
    table = comparison_table(summarize_runs(collect_runs(tmp_path)), order=["roc"])
    lines = table.strip().splitlines()
    assert lines[0].startswith("| run | seeds | Acc | P | R | F1 |")
    assert lines[2].startswith("| roc | 0,1,2 |") and lines[3].startswith("| classifier | 0,3 |")
    mean = 100 * statistics.fmean([0.61, 0.65, 0.60])
    std = 100 * statistics.stdev([0.61, 0.65, 0.60])
    assert lines[2].endswith(f"| {mean:.2f} ± {std:.2f} |")


def test_no_runs_is_a_coded_error(tmp_path):
    with pytest.raises(ValueError, match=r"\[ROC_E031\]"):
        collect_runs(tmp_path)
    result = CliRunner().invoke(app, ["compare", str(tmp_path)])
    assert result.exit_code == 1
    assert "ROC_E031" in result.output


def test_cli_compare_writes_markdown(tmp_path):
    write_runs(tmp_path / "metrics")
    out = tmp_path / "table.md"
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "metrics"), "--output", str(out), "--order", "classifier,roc"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.index("| classifier |") < text.index("| roc |")
    assert text in result.output
