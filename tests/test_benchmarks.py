"""The benchmark scripts run and print what the README quotes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_pair_scaling_prints_a_row_per_encoder_and_setting(tmp_path):
    plot = tmp_path / "scaling.png"
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "pair_scaling.py"), "--preset", "tiny",
        "--encoder", "inline", "--encoder", "levitated", "--encoder", "listener",
        "--entities", "2", "--entities", "4", "--docs", "2", "--train-steps", "1", "--batch-size", "2",
        "--plot", str(plot), "--json",
    ]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")  # one torch thread, as in the suite
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    inference = [r for r in rows if r["mode"] == "infer"]
    assert sorted((r["encoder"], r["entities"]) for r in inference) == sorted(
        (e, n) for e in ("inline", "levitated", "listener") for n in (2, 4)
    )
    for row in inference:
        assert {"encoder", "entities", "pairs_per_s", "docs_per_s"} <= set(row)
        assert row["pairs_per_s"] > 0
        # pairs/s = docs/s x ordered pairs per doc
        assert abs(row["pairs_per_s"] - row["docs_per_s"] * row["entities"] * (row["entities"] - 1)) < 1e-6 * row["pairs_per_s"]
    assert sorted(r["encoder"] for r in rows if r["mode"] == "train") == ["inline", "levitated", "listener"]
    assert plot.stat().st_size > 1000
