"""Training memory of `spacy train`: the resident memory at given steps and the
peak of the whole run (the saves of model-best and model-last included).

    python benchmarks/train_memory.py configs/demo.cfg --output /tmp/demo_memory
    python benchmarks/train_memory.py configs/mnre_minilm.cfg --output /tmp/mnre_memory \
        --steps 100,200,400,800 --training.max_steps 800

Runs spaCy's own training (`spacy.cli.train.train`, as `python -m spacy train`) in
this process, with config overrides given as extra options exactly as in `spacy
train`. A `[training.before_update]` callback reads the resident set size
(`/proc/self/status`, VmRSS) before the updates whose number is listed in --steps,
i.e. after that many steps, and then calls the config's own `before_update`, if it
has one. The peak is the process's `ru_maxrss` after the run. Prints one row per
step, the peak, the growth from the first listed step to the last, and the wall
time; with --json, one JSON line too.
"""
import json
import resource
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import typer
from spacy.cli._util import parse_config_overrides
from spacy.cli.train import train
from spacy.util import registry
from thinc.api import Config

READINGS: Dict[int, int] = {}


def rss_kib() -> int:
    """The resident set size of this process, in KiB (Linux)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@registry.callbacks("spacy_roc_bench.rss_at_steps.v1")
def make_rss_at_steps(steps: List[int], then: Optional[Callable] = None) -> Callable[[Any, Dict[str, Any]], None]:
    """A before_update callback that records the RSS at the listed steps, then runs
    `then` (the config's own before_update)."""
    wanted = set(steps)

    def rss_at_steps(nlp: Any, info: Dict[str, Any]) -> None:
        if info["step"] in wanted:
            READINGS[info["step"]] = rss_kib()
        if then is not None:
            then(nlp, info)

    return rss_at_steps


app = typer.Typer(add_completion=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training config"),
    output: Path = typer.Option(..., help="Output folder of spacy train"),
    steps: str = typer.Option("100,200,400,800", help="Steps to read the RSS at, comma-separated"),
    as_json: bool = typer.Option(False, "--json", help="Also print one JSON line"),
) -> None:
    """Train with `spacy train`, printing the RSS at the given steps and the peak.
    Extra options --section.key value override the config, as in `spacy train`."""
    wanted = sorted(int(step) for step in steps.split(","))
    overrides = parse_config_overrides(ctx.args)
    own = Config().from_disk(config_path, interpolate=False)["training"].get("before_update")
    callback = {"@callbacks": "spacy_roc_bench.rss_at_steps.v1", "steps": wanted, "then": own}
    start = time.perf_counter()
    train(config_path, output, overrides={**overrides, "training.before_update": callback})
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"{'step':>6}{'RSS (KiB)':>14}")
    for step in wanted:
        value = READINGS.get(step)
        print(f"{step:>6}{value if value is not None else '-':>14}")
    print(f"{'peak':>6}{peak:>14}")
    read = [step for step in wanted if step in READINGS]
    growth = READINGS[read[-1]] / READINGS[read[0]] - 1.0 if len(read) > 1 else None
    if growth is not None:
        print(f"RSS at step {read[-1]} against step {read[0]}: {growth:+.1%}")
    print(f"wall: {seconds:.0f} s")
    if as_json:
        print(json.dumps({"config": config_path.name, "rss_kib": READINGS, "peak_kib": peak, "growth": growth, "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    app()
