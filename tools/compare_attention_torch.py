#!/usr/bin/env python3
"""compare_attention_torch.py — `attograd attention` against PyTorch.

Generates random inputs with NumPy, runs the attograd CLI for each score mode
(dot, concat, additive) with and without masks, causal masking, a separate key
and the scale variables, and computes the same call in PyTorch: a direct
transcription of Keras 3's Attention/AdditiveAttention formulas, differentiated
by autograd. Prints the largest absolute difference of the output, the
attention weights and every gradient, per case and per mode, in float64 and
float32.

    python3 tools/compare_attention_torch.py [--bin build/bin/attograd] [--seed 0]

Exits 0 with "SKIP" when PyTorch is not installed, 1 when a difference exceeds
its tolerance (1e-9 in float64, 1e-4 in float32) or the CLI fails.
"""
import argparse
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:  # torch (or numpy) missing: nothing to compare against
    print(f"SKIP: {e}")
    sys.exit(0)


def keras_attention(q, v, k, qm, vm, scale, cw, mode, causal):
    """Keras 3's Attention / AdditiveAttention call, in torch."""
    if k is None:
        k = v
    if mode == "dot":
        s = q @ k.transpose(-1, -2)
        if scale is not None:
            s = s * scale
    elif mode == "concat":
        qe, ke = q.unsqueeze(-2), k.unsqueeze(-3)
        t = torch.tanh(scale * (qe + ke)) if scale is not None else torch.tanh(qe + ke)
        s = cw * t.sum(-1)
    else:  # additive
        qe, ke = q.unsqueeze(-2), k.unsqueeze(-3)
        t = torch.tanh(qe + ke)
        s = (scale * t).sum(-1) if scale is not None else t.sum(-1)
    mask = None
    if causal:
        ones = torch.ones((1, s.shape[-2], s.shape[-1]), dtype=torch.int32)
        mask = ones.cumsum(-2) >= ones.cumsum(-1)
        if vm is not None:
            mask = mask & vm.unsqueeze(-2)
    elif vm is not None:
        mask = vm.unsqueeze(-2)
    if mask is not None:
        s = s - 1e9 * (~mask).to(s.dtype)
    w = torch.softmax(s, dim=-1)
    out = w @ v
    if qm is not None:
        out = out * qm.unsqueeze(-1).to(out.dtype)
    return out, w


CASES = [
    # name, layer, mode, options
    ("dot", "attention", "dot", dict()),
    ("dot scale key masks", "attention", "dot", dict(scale=True, key=True, vm=True, qm=True)),
    ("dot causal vmask", "attention", "dot", dict(causal=True, vm=True)),
    ("dot causal scale key", "attention", "dot", dict(causal=True, scale=True, key=True)),
    ("concat", "attention", "concat", dict()),
    ("concat scale key masks", "attention", "concat", dict(scale=True, key=True, vm=True, qm=True)),
    ("concat causal scale vmask", "attention", "concat", dict(scale=True, causal=True, vm=True)),
    ("additive", "additive", None, dict(scale=True)),
    ("additive key masks", "additive", None, dict(scale=True, key=True, vm=True, qm=True)),
    ("additive causal vmask", "additive", None, dict(scale=True, causal=True, vm=True)),
    ("additive no-scale causal key", "additive", None, dict(key=True, causal=True, no_scale=True)),
]


def run_case(binary, tmp, rng, name, layer, mode, o, dtype):
    B, Tq, Tv, D = 3, 7, 9, 5
    Dv = 4 if o.get("key") else D
    mode_name = mode or "additive"
    f = {}

    def put(key, arr):
        path = os.path.join(tmp, key + ".npy")
        np.save(path, arr)
        f[key] = path

    put("q", rng.standard_normal((B, Tq, D)))
    put("v", rng.standard_normal((B, Tv, Dv)))
    if o.get("key"):
        put("k", rng.standard_normal((B, Tv, D)))
    if o.get("vm"):
        vm = rng.random((B, Tv)) > 0.35
        vm[:, 0] = True  # no row fully masked (its -1e9 scores are exact only up to rounding)
        put("vm", vm)
    if o.get("qm"):
        put("qm", (rng.random((B, Tq)) > 0.3).astype(np.int32))
    use_scale = o.get("scale", False)
    if use_scale:
        put("scale", rng.uniform(0.5, 1.5, (D,)) if mode_name == "additive" else np.array(rng.uniform(0.5, 1.5)))
    if mode_name == "concat":
        put("cw", np.array([rng.uniform(0.5, 1.5)]))
    put("g", rng.standard_normal((B, Tq, Dv)))

    args = [binary, "attention", "--query", f["q"], "--value", f["v"], "--layer", layer,
            "--dtype", dtype, "--output", os.path.join(tmp, "out.npy"),
            "--scores", os.path.join(tmp, "w.npy"), "--grad-output", f["g"],
            "--grad-query", os.path.join(tmp, "gq.npy"), "--grad-value", os.path.join(tmp, "gv.npy")]
    if mode:
        args += ["--score-mode", mode]
    if "k" in f:
        args += ["--key", f["k"], "--grad-key", os.path.join(tmp, "gk.npy")]
    if "vm" in f:
        args += ["--value-mask", f["vm"]]
    if "qm" in f:
        args += ["--query-mask", f["qm"]]
    if o.get("causal"):
        args += ["--causal"]
    if use_scale:
        args += ["--use-scale", "--scale", f["scale"], "--grad-scale", os.path.join(tmp, "gs.npy")]
    elif o.get("no_scale"):
        args += ["--no-scale"]
    if "cw" in f:
        args += ["--concat-score-weight", f["cw"], "--grad-concat-score-weight", os.path.join(tmp, "gw.npy")]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"{name} {dtype}: attograd failed ({r.returncode}): {r.stderr.strip()}")
        return None

    tdt = torch.float64 if dtype == "float64" else torch.float32

    def leaf(key):
        if key not in f:
            return None
        return torch.tensor(np.load(f[key]), dtype=tdt, requires_grad=True)

    q, v, k, scale, cw = leaf("q"), leaf("v"), leaf("k"), leaf("scale"), leaf("cw")
    vm = torch.tensor(np.load(f["vm"])) if "vm" in f else None
    qm = torch.tensor(np.load(f["qm"])).bool() if "qm" in f else None
    out, w = keras_attention(q, v, k, qm, vm, scale, cw, mode_name, o.get("causal", False))
    out.backward(torch.tensor(np.load(f["g"]), dtype=tdt))

    diffs = {}
    pairs = [("output", out, "out.npy"), ("weights", w, "w.npy"), ("grad query", q.grad, "gq.npy"),
             ("grad value", v.grad, "gv.npy")]
    if k is not None:
        pairs.append(("grad key", k.grad, "gk.npy"))
    if scale is not None:
        pairs.append(("grad scale", scale.grad, "gs.npy"))
    if cw is not None:
        pairs.append(("grad concat_score_weight", cw.grad, "gw.npy"))
    for label, ref, fname in pairs:
        got = np.load(os.path.join(tmp, fname))
        want = ref.detach().numpy()
        if got.dtype != want.dtype or got.shape != want.shape:
            print(f"{name} {dtype}: {label} is {got.dtype}{got.shape}, expected {want.dtype}{want.shape}")
            return None
        diffs[label] = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)), initial=0))
    return mode_name, diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    default_bin = os.path.join(os.environ.get("AG_BIN", os.path.join(here, "..", "build", "bin")), "attograd")
    ap.add_argument("--bin", default=default_bin)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if not os.path.exists(a.bin):
        print(f"compare_attention_torch: no attograd binary at {a.bin} (use --bin)")
        return 1
    rng = np.random.default_rng(a.seed)
    tol = {"float64": 1e-9, "float32": 1e-4}
    worst = {}  # (mode, dtype) -> {label: diff}
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("float64", "float32"):
            for name, layer, mode, o in CASES:
                res = run_case(a.bin, tmp, rng, name, layer, mode, o, dtype)
                if res is None:
                    failed = True
                    continue
                mode_name, diffs = res
                big = max(diffs.values())
                flag = "ok" if big <= tol[dtype] else "TOO LARGE"
                failed |= big > tol[dtype]
                print(f"{dtype}  {name:30s} max |diff| {big:.2e}  {flag}   " +
                      ", ".join(f"{k} {d:.1e}" for k, d in diffs.items()))
                w = worst.setdefault((mode_name, dtype), {})
                for k, d in diffs.items():
                    w[k] = max(w.get(k, 0.0), d)
    print("\nlargest differences per mode:")
    for (mode_name, dtype), w in sorted(worst.items()):
        print(f"  {mode_name:8s} {dtype}: " + ", ".join(f"{k} {d:.2e}" for k, d in w.items()))
    print("FAIL" if failed else "all within tolerance")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
