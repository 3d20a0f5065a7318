#!/usr/bin/env python3
"""compare_mha_torch.py — `attograd attention --layer multi_head` against PyTorch.

For each case (heads, key/value/output dims, a separate key or not, biases or
not, query/value/key/attention masks, causal, rows with every key masked), it
writes random inputs and weights, runs the attograd CLI, and computes the same
call in PyTorch two ways:

  * keras: a direct transcription of Keras 3's MultiHeadAttention (EinsumDense
    projections, query scaled by 1/sqrt(key_dim), masked scores -1e9, softmax,
    weights multiplied by the mask, output projection), differentiated by
    autograd: output, scores and the gradients of query, value, key and all
    eight weights;
  * torch: torch.nn.functional.multi_head_attention_forward, PyTorch's own
    layer, where its semantics are Keras's (heads of width embed/H, value and
    key widths equal, no fully masked row: PyTorch gives NaN there where Keras
    gives zeros, and PyTorch has no query mask). Its key_padding_mask is the
    negated value mask, its attn_mask the negated causal/attention mask.

Prints the largest absolute difference per case and quantity, in float64 and
float32, and the overall largest ones.

    python3 tools/compare_mha_torch.py [--bin build/bin/attograd] [--seed 0]
    python3 tools/compare_mha_torch.py --write-fixtures tests/data/mha

Exits 0 with "SKIP" when PyTorch is not installed, 1 when a difference exceeds
its tolerance (1e-9 in float64, 1e-4 in float32) or the CLI fails.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:  # torch (or numpy) missing: nothing to compare against
    print(f"SKIP: {e}")
    sys.exit(0)

NAMES = ["query/kernel", "query/bias", "key/kernel", "key/bias", "value/kernel", "value/bias",
         "attention_output/kernel", "attention_output/bias"]


def write_safetensors(path, tensors):
    """tensors: list of (name, float ndarray), written as safetensors."""
    header, blobs, off = {}, [], 0
    for name, a in tensors:
        a = np.ascontiguousarray(a)
        dt = {np.dtype("<f8"): "F64", np.dtype("<f4"): "F32"}[a.dtype]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dt = {"F64": "<f8", "F32": "<f4"}[e["dtype"]]
        b, t = e["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + t], dtype=dt).reshape(e["shape"])
    return out


def keras_mha(q, v, k, w, qm, vm, km, am, causal, H, K):
    """Keras 3's MultiHeadAttention call, in torch: (output, scores)."""
    if k is None:
        k = v
    qh = torch.einsum("btd,dhk->bthk", q, w["query/kernel"])
    kh = torch.einsum("btd,dhk->bthk", k, w["key/kernel"])
    vh = torch.einsum("btd,dhk->bthk", v, w["value/kernel"])
    if "query/bias" in w:
        qh, kh, vh = qh + w["query/bias"], kh + w["key/bias"], vh + w["value/bias"]
    qh = qh * (1.0 / float(K) ** 0.5)
    s = torch.einsum("bshk,bthk->bhts", kh, qh)  # (B,H,Tq,Tv)
    mask = None

    def both(a, b):
        return b if a is None else a & b

    if qm is not None:
        mask = both(mask, qm[:, :, None])
    if vm is not None:
        mask = both(mask, vm[:, None, :])
    if km is not None:
        mask = both(mask, km[:, None, :])
    if causal:
        ones = torch.ones((1, s.shape[-2], s.shape[-1]), dtype=torch.int32)
        mask = both(mask, ones.cumsum(-2) >= ones.cumsum(-1))
    if am is not None:
        mask = both(mask, am)
    if mask is not None:
        m = mask[:, None, :, :].to(s.dtype)
        s = s + (1.0 - m) * -1e9
    a = torch.softmax(s, dim=-1)
    if mask is not None:
        a = a * m
    o = torch.einsum("bhts,bshk->bthk", a, vh)
    out = torch.einsum("bthk,hko->bto", o, w["attention_output/kernel"])
    if "attention_output/bias" in w:
        out = out + w["attention_output/bias"]
    return out, a


def torch_mha(q, v, k, w, vm, am, causal, H):
    """PyTorch's own multi-head attention with the same weights and masks."""
    if k is None:
        k = v
    E = q.shape[-1]
    t = lambda x: x.transpose(0, 1)  # (B,T,E) -> (T,B,E)
    in_w = torch.cat([w[n + "/kernel"].reshape(E, E).T for n in ("query", "key", "value")])
    in_b = None
    if "query/bias" in w:
        in_b = torch.cat([w[n + "/bias"].reshape(E) for n in ("query", "key", "value")])
    out_w = w["attention_output/kernel"].reshape(E, E).T
    out_b = w.get("attention_output/bias")
    mask = None
    if causal:
        Tq, Tv = q.shape[1], v.shape[1]
        ones = torch.ones((Tq, Tv), dtype=torch.int32)
        mask = ones.cumsum(0) >= ones.cumsum(1)
    if am is not None:  # torch's 3-D attn_mask is (B·H, Tq, Tv)
        a3 = am.repeat_interleave(H, dim=0)
        mask = a3 if mask is None else mask[None] & a3
    out, scores = torch.nn.functional.multi_head_attention_forward(
        t(q), t(k), t(v), E, H, in_w, in_b, None, None, False, 0.0, out_w, out_b,
        training=False, key_padding_mask=None if vm is None else ~vm, need_weights=True,
        attn_mask=None if mask is None else ~mask, use_separate_proj_weight=True,
        q_proj_weight=in_w[:E], k_proj_weight=in_w[E:2 * E], v_proj_weight=in_w[2 * E:],
        average_attn_weights=False)
    return t(out), scores


# name, options
CASES = [
    ("self", dict(H=2, K=3, D=4)),
    ("key value_dim output", dict(H=3, K=2, V=4, O=5, D=4, key=True)),
    ("no bias causal", dict(H=2, K=2, D=4, causal=True, no_bias=True)),
    ("query value key masks", dict(H=2, K=3, D=4, key=True, qm=True, vm=True, km=True)),
    ("attention mask, masked rows", dict(H=2, K=2, D=3, am=True, masked_row=True)),
    ("all masks causal", dict(H=4, K=2, D=5, key=True, qm=True, vm=True, am=True, causal=True)),
    ("value mask empties a row", dict(H=1, K=4, D=3, vm=True, empty_vm=True)),
    # PyTorch's layer needs embed = H·K and equal widths
    ("torch layer: plain", dict(H=2, K=2, D=4, torch=True)),
    ("torch layer: key vmask causal", dict(H=2, K=3, D=6, key=True, vm=True, causal=True,
                                           torch=True)),
    ("torch layer: attention mask", dict(H=4, K=1, D=4, key=True, am=True, torch=True)),
]


def make_case(rng, o):
    """The inputs, masks and weights of a case, as float64/bool ndarrays."""
    B, Tq, Tv, D, H, K = 2, 3, 4, o["D"], o["H"], o["K"]
    V, O = o.get("V", K), o.get("O", D)
    Dv = Dk = D if o.get("torch") else D + 1
    if o.get("key") and not o.get("torch"):
        Dk = D + 2
    x = {"q": rng.standard_normal((B, Tq, D)), "v": rng.standard_normal((B, Tv, Dv))}
    if o.get("key"):
        x["k"] = rng.standard_normal((B, Tv, Dk))
    if o.get("qm"):
        x["qm"] = np.array([[1, 0, 1], [1, 1, 1]], dtype=bool)
    if o.get("vm"):  # PyTorch's layer gives NaN for a row with no key: keep key 0 there
        second = [0, 0, 0, 0] if o.get("empty_vm") else [1, 0, 1, 1] if o.get("torch") else [
            0, 1, 1, 1]
        x["vm"] = np.array([[1, 1, 0, 1], second], dtype=bool)
    if o.get("km"):
        x["km"] = np.array([[1, 0, 1, 1], [1, 1, 1, 0]], dtype=bool)
    if o.get("am"):
        am = rng.random((B, Tq, Tv)) < 0.7
        am[:, :, 0] = True  # no row empty unless asked
        if o.get("masked_row"):
            am[1, 0, :] = False
        x["am"] = am
    shapes = [(D, H, K), (H, K), (Dk, H, K), (H, K), (Dv, H, V), (H, V), (H, V, O), (O,)]
    w = {}
    for name, shape in zip(NAMES, shapes):
        if o.get("no_bias") and name.endswith("bias"):
            continue
        w[name] = rng.standard_normal(shape) * 0.5
    g = rng.standard_normal((B, Tq, O))
    return x, w, g


def attograd_call(binary, tmp, tag, x, w, g, o, dtype):
    paths = {}
    for n, a in list(x.items()) + [("g", g)]:
        paths[n] = os.path.join(tmp, f"{tag}_{n}.npy")
        np.save(paths[n], a)
    paths["w"] = os.path.join(tmp, f"{tag}_w.safetensors")
    write_safetensors(paths["w"], list(w.items()))
    out = {n: os.path.join(tmp, f"{tag}_out_{n}.npy") for n in ("out", "scores", "gq", "gv", "gk")}
    out["gw"] = os.path.join(tmp, f"{tag}_out_gw.safetensors")
    cmd = [binary, "attention", "--layer", "multi_head", "--num-heads", str(o["H"]), "--key-dim",
           str(o["K"]), "--weights", paths["w"], "--query", paths["q"], "--value", paths["v"],
           "--output", out["out"], "--scores", out["scores"], "--grad-output", paths["g"],
           "--grad-query", out["gq"], "--grad-value", out["gv"], "--grad-weights", out["gw"],
           "--dtype", dtype]
    if "V" in o:
        cmd += ["--value-dim", str(o["V"])]
    if "O" in o:
        cmd += ["--output-dim", str(o["O"])]
    if o.get("no_bias"):
        cmd += ["--no-bias"]
    if o.get("causal"):
        cmd += ["--causal"]
    if "k" in x:
        cmd += ["--key", paths["k"], "--grad-key", out["gk"]]
    for flag, n in (("--query-mask", "qm"), ("--value-mask", "vm"), ("--key-mask", "km"),
                    ("--attention-mask", "am")):
        if n in x:
            cmd += [flag, paths[n]]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"attograd failed ({r.returncode}): {r.stderr.strip()}")
    got = {n: np.load(out[n]) for n in ("out", "scores", "gq", "gv")}
    # again without the scores: the fused (online-softmax) path
    fused = [c for c in cmd if c not in ("--scores", out["scores"])]
    fused[fused.index(out["out"])] = out["out"] + ".fused.npy"
    fused[fused.index(out["gq"])] = out["gq"] + ".fused.npy"
    r = subprocess.run(fused, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"attograd failed ({r.returncode}): {r.stderr.strip()}")
    got["out (fused)"] = np.load(out["out"] + ".fused.npy")
    got["gq (fused)"] = np.load(out["gq"] + ".fused.npy")
    if "k" in x:
        got["gk"] = np.load(out["gk"])
    gw = read_safetensors(out["gw"])
    for n in w:
        got["g:" + n] = gw[n]
    return got, cmd


def reference(x, w, g, o, tdtype):
    tt = lambda a: torch.tensor(a, dtype=tdtype, requires_grad=True)
    tq, tv = tt(x["q"]), tt(x["v"])
    tk = tt(x["k"]) if "k" in x else None
    tw = {n: tt(a) for n, a in w.items()}
    mask = {n: torch.tensor(x[n]) if n in x else None for n in ("qm", "vm", "km", "am")}
    out, scores = keras_mha(tq, tv, tk, tw, mask["qm"], mask["vm"], mask["km"], mask["am"],
                            o.get("causal", False), o["H"], o["K"])
    out.backward(torch.tensor(g, dtype=tdtype))
    ref = {"out": out.detach().numpy(), "scores": scores.detach().numpy(),
           "gq": tq.grad.numpy(), "gv": tv.grad.numpy()}
    ref["out (fused)"], ref["gq (fused)"] = ref["out"], ref["gq"]
    if tk is not None:
        ref["gk"] = tk.grad.numpy()
    for n, p in tw.items():
        ref["g:" + n] = p.grad.numpy()
    lib = None
    if o.get("torch"):
        tq2, tv2 = tt(x["q"]), tt(x["v"])
        tk2 = tt(x["k"]) if "k" in x else None
        tw2 = {n: tt(a) for n, a in w.items()}
        out2, scores2 = torch_mha(tq2, tv2, tk2, tw2, mask["vm"], mask["am"],
                                  o.get("causal", False), o["H"])
        out2.backward(torch.tensor(g, dtype=tdtype))
        lib = {"out": out2.detach().numpy(), "scores": scores2.detach().numpy(),
               "gq": tq2.grad.numpy(), "gv": tv2.grad.numpy()}
        lib["out (fused)"], lib["gq (fused)"] = lib["out"], lib["gq"]
        if tk2 is not None:
            lib["gk"] = tk2.grad.numpy()
        for n, p in tw2.items():
            lib["g:" + n] = p.grad.numpy()
    return ref, lib


def compare(binary, seed):
    rng = np.random.default_rng(seed)
    worst = {}
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for ci, (name, o) in enumerate(CASES):
            x, w, g = make_case(rng, o)
            for dtype, tdtype, tol in (("float64", torch.float64, 1e-9),
                                       ("float32", torch.float32, 1e-4)):
                try:
                    got, _ = attograd_call(binary, tmp, f"c{ci}_{dtype}", x, w, g, o, dtype)
                except RuntimeError as e:
                    print(f"FAIL {name} {dtype}: {e}")
                    failed += 1
                    continue
                ref, lib = reference(x, w, g, o, torch.float64)
                for against, r in (("keras", ref), ("torch", lib)):
                    if r is None:
                        continue
                    diffs = {n: float(np.max(np.abs(got[n] - r[n]))) if r[n].size else 0.0
                             for n in r}
                    bad = [n for n, d in diffs.items() if not d <= tol]
                    big = max(diffs, key=diffs.get)
                    print(f"{'FAIL' if bad else 'ok  '} {name:34s} {dtype} vs {against}: max "
                          f"|diff| {diffs[big]:.2e} ({big}); output {diffs['out']:.2e}, scores "
                          f"{diffs['scores']:.2e}, gradients "
                          f"{max(d for n, d in diffs.items() if n.startswith('g')):.2e}; fused path: output "
                          f"{diffs['out (fused)']:.2e}")
                    failed += bool(bad)
                    for n, d in diffs.items():
                        kind = "output" if n.startswith("out") else "scores" if n == "scores" else (
                            "input gradients" if n[:2] in ("gq", "gv", "gk") else "weight gradients")
                        key = (dtype, against, kind)
                        worst[key] = max(worst.get(key, 0.0), d)
    print("\nlargest differences:")
    for (dtype, against, kind), d in sorted(worst.items()):
        print(f"  {dtype} vs {against:5s} {kind:17s} {d:.2e}")
    return failed


def write_fixtures(d, seed):
    """The shell test's fixtures: case A (masks, key, gradients) and case B
    (attention mask with a fully masked row, causal, no bias), with the
    expected files from the Keras transcription in float64."""
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(seed)
    fixtures = [("a", dict(H=2, K=3, V=2, O=3, D=4, key=True, qm=True, vm=True, km=True)),
                ("b", dict(H=2, K=2, D=3, am=True, masked_row=True, causal=True, no_bias=True))]
    for tag, o in fixtures:
        x, w, g = make_case(rng, o)
        for n, a in x.items():
            np.save(os.path.join(d, f"{tag}_{n}.npy"), a)
        np.save(os.path.join(d, f"{tag}_g.npy"), g)
        write_safetensors(os.path.join(d, f"{tag}_w.safetensors"), list(w.items()))
        ref, _ = reference(x, w, g, o, torch.float64)
        for n, a in ref.items():
            if n.startswith("g:"):
                continue
            np.save(os.path.join(d, f"exp_{tag}_{n}.npy"), a)
        write_safetensors(os.path.join(d, f"exp_{tag}_gw.safetensors"),
                          [(n, ref["g:" + n]) for n in w])
    print(f"fixtures written to {d}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default="build/bin/attograd")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--write-fixtures", metavar="DIR")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.write_fixtures:
        write_fixtures(a.write_fixtures, a.seed)
        return 0
    failed = compare(a.bin, a.seed)
    print(f"\n{len(CASES)} cases, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
