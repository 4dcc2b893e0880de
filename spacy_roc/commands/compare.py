"""Compare evaluation reports across runs and seeds.

Each run writes its report (``metrics.json``) to its own folder, named
``{run}_seed{n}`` (``roc_seed0``, ``classifier_seed1``, ...). ``summarize_runs`` groups
the folders by run name and gives mean and sample standard deviation of each metric
over the seeds; ``comparison_table`` renders them as Markdown.
"""
import re
import statistics
from pathlib import Path
from typing import Dict, List, Sequence

import srsly

from ..errors import Errors
from ..scorer import SUMMARY_KEYS

_SEED_DIR = re.compile(r"^(?P<run>.+)_seed(?P<seed>\d+)$")


def collect_runs(metrics_root: Path) -> Dict[str, Dict[int, Dict[str, float]]]:
    """Read ``{run}_seed{n}/metrics.json`` under a folder.

    metrics_root (Path): The folder holding one report folder per run and seed.
    RETURNS (Dict[str, Dict[int, Dict[str, float]]]): run -> seed -> metrics.
    """
    runs: Dict[str, Dict[int, Dict[str, float]]] = {}
    for path in sorted(Path(metrics_root).glob("*/metrics.json")):
        match = _SEED_DIR.match(path.parent.name)
        if match is None:
            continue
        metrics = srsly.read_json(path)
        runs.setdefault(match["run"], {})[int(match["seed"])] = {
            key: metrics[key] for _, key in SUMMARY_KEYS if metrics.get(key) is not None
        }
    if not runs:
        raise ValueError(Errors.ROC_E031.format(path=metrics_root))
    return runs


def summarize_runs(runs: Dict[str, Dict[int, Dict[str, float]]]) -> List[Dict[str, object]]:
    """Mean and sample standard deviation (0 for one seed) of each metric per run.

    runs (Dict[str, Dict[int, Dict[str, float]]]): From collect_runs.
    RETURNS (List[Dict[str, object]]): One row per run: "run", "seeds" (sorted list)
        and, per metric key, (mean, std).
    """
    rows = []
    for run, by_seed in runs.items():
        row: Dict[str, object] = {"run": run, "seeds": sorted(by_seed)}
        for _, key in SUMMARY_KEYS:
            values = [metrics[key] for metrics in by_seed.values() if key in metrics]
            if values:
                std = statistics.stdev(values) if len(values) > 1 else 0.0
                row[key] = (statistics.fmean(values), std)
        rows.append(row)
    return rows


def comparison_table(rows: Sequence[Dict[str, object]], order: Sequence[str] = ()) -> str:
    """Markdown table: one line per run, metrics in percent as mean ± std.

    rows (Sequence[Dict[str, object]]): From summarize_runs.
    order (Sequence[str]): Runs to list first, in this order; the rest follow sorted.
    RETURNS (str): The table.
    """
    rank = {run: i for i, run in enumerate(order)}
    rows = sorted(rows, key=lambda r: (rank.get(str(r["run"]), len(rank)), str(r["run"])))
    lines = [
        "| run | seeds | " + " | ".join(name for name, _ in SUMMARY_KEYS) + " |",
        "|---|---|" + "---:|" * len(SUMMARY_KEYS),
    ]
    for row in rows:
        cells = [_cell(row.get(key)) for _, key in SUMMARY_KEYS]
        seeds = ",".join(str(s) for s in row["seeds"])  # type: ignore[union-attr]
        lines.append(f"| {row['run']} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if value is None:
        return "-"
    mean, std = value  # type: ignore[misc]
    return f"{100 * mean:.2f} ± {100 * std:.2f}"
