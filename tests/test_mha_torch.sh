#!/usr/bin/env bash
# test_mha_torch.sh BIN_DIR — `attograd attention --layer multi_head` against
# PyTorch (tools/compare_mha_torch.py): a transcription of Keras 3's
# MultiHeadAttention differentiated by autograd, and PyTorch's own
# multi_head_attention_forward where the two agree; outputs, scores and every
# gradient, float64 and float32. Without Debian's python3-torch this prints
# SKIP and passes.
set -u
bin="${1:?usage: test_mha_torch.sh BIN_DIR}"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
    echo "SKIP: PyTorch (python3-torch) or NumPy not installed"
    exit 0
fi
exec /usr/bin/python3 "$src/tools/compare_mha_torch.py" --bin "$bin/attograd"
