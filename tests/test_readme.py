"""The README's code runs as written: its zero-shot quick start (the build command,
then its Python block, in a fresh interpreter), and every `python -m spacy_roc ...`
and `python -m spacy project run ...` command of the README and docs/ names a
command or workflow that exists."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import srsly

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def code_blocks(path: Path, language: str):
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf8"), flags=re.S)


def section(path: Path, title: str) -> str:
    text = path.read_text(encoding="utf8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def commands():
    """Every command line of the bash blocks of the README and docs/ (continued
    lines joined)."""
    lines = []
    for page in PAGES:
        for block in code_blocks(page, "bash"):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split("  #")[0].strip()
                if line and not line.startswith("#"):
                    lines.append((page.name, line))
    return lines


def test_every_command_names_something_that_exists():
    """`python -m spacy_roc A B ...` is a command (its --help works); `python -m spacy
    project run X` is a command or workflow of project.yml."""
    from typer.main import get_command

    from spacy_roc.commands.cli import app

    cli = get_command(app)
    project = srsly.read_yaml(ROOT / "project.yml")
    runnable = {c["name"] for c in project["commands"]} | set(project["workflows"])
    checked = 0
    for page, line in commands():
        for part in line.split("&&"):
            words = shlex.split(part.replace("OPENBLAS_NUM_THREADS=1 ", ""))
            if words[:3] == ["python", "-m", "spacy_roc"]:
                group = cli
                for word in words[3:]:
                    if word.startswith("-") or not hasattr(group, "commands") or word not in group.commands:
                        break
                    group = group.commands[word]
                assert not hasattr(group, "commands"), f"{page}: {part.strip()} names no spacy_roc command"
                checked += 1
            elif words[:5] == ["python", "-m", "spacy", "project", "run"]:
                assert words[5] in runnable, f"{page}: {part.strip()}: no {words[5]!r} in project.yml"
                checked += 1
    assert checked > 20


@pytest.mark.slow
def test_zero_shot_quick_start_runs_as_written(tmp_path):
    """The quick start's build command, then its Python block, in a fresh interpreter
    in the folder where the pipeline was built; the README's sentence gives the
    relation the block should find."""
    block = section(ROOT / "README.md", "Zero-shot quick start")
    build = next(line for line in code_blocks(Path(ROOT / "README.md"), "bash") for line in line.splitlines() if "zeroshot build" in line)
    assert build in block
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    args = shlex.split(build)
    args = [sys.executable, *args[1:]]
    args = [str(ROOT / a) if a.startswith(("configs/", "assets/")) else a for a in args]
    result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    python = re.search(r"```python\n(.*?)```", block, flags=re.S).group(1)
    result = subprocess.run([sys.executable, "-c", python], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    printed = result.stdout.strip().splitlines()
    assert "Ada Lovelace spouse William King" in " ".join(printed[:]) or any(
        line.startswith("Ada Lovelace spouse William King") for line in printed
    ), printed
