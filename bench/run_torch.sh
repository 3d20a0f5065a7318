#!/usr/bin/env bash
# The PyTorch side of the README's comparison: the reference network on the Bible pairs,
# dot attention for 4 epochs and additive attention for 3, 2 threads, seed 1337.
#   bench/run_torch.sh [DATA_DIR]        (default data/bible)
# Writes bench/results/torch_dot.{json,log} and bench/results/torch_additive.{json,log}.
# Run it on a quiet machine: the seconds per epoch are part of the results.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${1:-data/bible}"
python=/usr/bin/python3
results=bench/results

if ! "$python" -c 'import torch, numpy' 2>/dev/null; then
    echo "SKIP: PyTorch not installed"
    exit 0
fi
for f in train val test; do
    if [ ! -f "$data/$f.tsv" ]; then
        echo "run_torch.sh: $data/$f.tsv not found; build the data first:" >&2
        echo "  build/bin/attograd dataset bible --out data/bible" >&2
        exit 1
    fi
done
mkdir -p "$results"
run() { # attention epochs
    echo "== PyTorch, $1 attention, $2 epochs =="
    "$python" bench/torch_similarity.py --data "$data" --attention "$1" --epochs "$2" \
        --batch-size 64 --learning-rate 0.001 --max-tokens 10000 --dim 64 --filters 100 \
        --seed 1337 --threads 2 --json "$results/torch_$1.json" 2>&1 | tee "$results/torch_$1.log"
}
run dot 4
run additive 3
