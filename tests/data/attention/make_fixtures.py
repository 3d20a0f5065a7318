#!/usr/bin/env python3
"""Writes the fixtures of tests/test_attention_cli.sh: small inputs, and the
expected outputs and gradients of three CLI calls computed with PyTorch from
Keras 3's formulas (run once; the test itself needs neither numpy nor torch)."""
import numpy as np
import torch

rng = np.random.default_rng(2024)
B, Tq, Tv, D, Dv = 2, 3, 4, 4, 3
q = rng.standard_normal((B, Tq, D))
k = rng.standard_normal((B, Tv, D))
v = rng.standard_normal((B, Tv, Dv))
vself = rng.standard_normal((B, Tv, D))
vm = np.array([[True, False, True, True], [True, True, False, False]])
qm = np.array([[1, 0, 1], [1, 1, 0]], dtype=np.int32)
scale_dot = np.array(0.5)
scale_add = rng.uniform(0.5, 1.5, (D,))
cw = np.array([1.5])
g = rng.standard_normal((B, Tq, Dv))
gself = rng.standard_normal((B, Tq, D))
files = dict(q=q, k=k, v=v, vself=vself, vm=vm, qm=qm, vm_float=vm.astype(np.float32),
             scale_dot=scale_dot, scale_add=scale_add, cw=cw, g=g, gself=gself,
             q_int=np.arange(B * Tq * D, dtype=np.int32).reshape(B, Tq, D),
             k_bad=rng.standard_normal((B, Tv, D + 1)),
             vm_bad_shape=np.ones((B, Tv - 1), dtype=bool),
             vm_bad_values=np.array([[1, 2, 1, 1], [1, 1, 1, 1]], dtype=np.int64),
             scale_bad=np.ones((3,)))
for name, arr in files.items():
    np.save(name + ".npy", arr)


def keras(q, v, k, qm, vm, scale, cw, mode, causal):
    if k is None:
        k = v
    if mode == "dot":
        s = q @ k.transpose(-1, -2)
        if scale is not None:
            s = s * scale
    else:
        qe, ke = q.unsqueeze(-2), k.unsqueeze(-3)
        if mode == "concat":
            s = cw * torch.tanh((scale if scale is not None else 1) * (qe + ke)).sum(-1)
        else:
            s = ((scale if scale is not None else 1) * torch.tanh(qe + ke)).sum(-1)
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
    w = torch.softmax(s, -1)
    out = w @ v
    if qm is not None:
        out = out * qm.unsqueeze(-1).to(out.dtype)
    return out, w


def T(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def case(prefix, qa, va, ka, qma, vma, sa, cwa, mode, causal, ga):
    tq, tv, tk = T(qa), T(va), (T(ka) if ka is not None else None)
    ts, tw = (T(sa) if sa is not None else None), (T(cwa) if cwa is not None else None)
    out, w = keras(tq, tv, tk, None if qma is None else torch.tensor(qma).bool(),
                   None if vma is None else torch.tensor(vma), ts, tw, mode, causal)
    out.backward(torch.tensor(ga))
    res = dict(out=out, scores=w, gq=tq.grad, gv=tv.grad)
    if tk is not None:
        res["gk"] = tk.grad
    if ts is not None:
        res["gs"] = ts.grad
    if tw is not None:
        res["gw"] = tw.grad
    for key, t in res.items():
        np.save(f"{prefix}_{key}.npy", t.detach().numpy())


# A: dot, key, both masks, scale 0.5
case("exp_a", q, v, k, qm, vm, scale_dot, None, "dot", False, g)
# B: additive, no key, causal, value mask, explicit scale (D,)
case("exp_b", q, vself, None, None, vm, scale_add, None, "additive", True, gself)
# C: concat, key, causal, scale 0.5, concat weight 1.5
case("exp_c", q, v, k, None, None, scale_dot, cw, "concat", True, g)
