#!/usr/bin/env bash
# test_attention_torch.sh BIN_DIR — `attograd attention` against PyTorch
# autograd on Keras's formulas (tools/compare_attention_torch.py): outputs,
# weights and every gradient, each mode, float64 and float32. PyTorch is a
# reference, not a dependency: without Debian's python3-torch this prints
# SKIP and passes.
set -u
bin="${1:?usage: test_attention_torch.sh BIN_DIR}"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
    echo "SKIP: PyTorch (python3-torch) or NumPy not installed"
    exit 0
fi
exec /usr/bin/python3 "$src/tools/compare_attention_torch.py" --bin "$bin/attograd"
