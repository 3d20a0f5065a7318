#!/usr/bin/python3
"""bench.py — attograd against PyTorch, side by side, in one run.

    /usr/bin/python3 bench/bench.py [--build build] [--data DIR] [--limit N] [--only NAME]
                                    [--repeat N]

Runs every case of the table for attograd (build/bin/attograd_bench, build/bin/attograd) and,
when torch imports, for PyTorch in the same run: each case on 1 and on 2 threads, the two
frameworks interleaved (attograd 1, PyTorch 1, attograd 2, PyTorch 2) so that both see the same
load; --repeat N runs that sequence N times and keeps each side's best (on a noisy machine).
Each case is a fresh process; a time is the best run after a warm-up; memory is the
process's peak RSS (getrusage of the child; the largest over the repeats). The table shows each
framework's best of its two thread counts, the ratio PyTorch / attograd (above 1: attograd is
faster), GFLOP/s where the case has a flop count, and both thread counts' times.

PyTorch's BLAS: the script loads torch in a child and reads which BLAS library is mapped into
it and, for OpenBLAS, the kernel it chose (openblas_get_corename). OpenBLAS 0.3.21 (Debian 12)
does not know recent Xeons and falls back to its Prescott (SSE3) kernels; when it does and the
CPU has AVX-512, the PyTorch side runs with OPENBLAS_CORETYPE=SkylakeX, the best kernel that
build has for the machine (--openblas-coretype auto keeps OpenBLAS's own choice). Any
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE already in the environment are removed for the PyTorch
side only.

The `attograd train` rows need the Bible pairs (`attograd dataset bible --out DIR`, --data DIR);
they train one epoch on the first --limit training pairs (default 10000) and compare pairs per
second, validation included in neither.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name, attograd_bench arguments, flops (None: no flop count). Counted as products:
#   matmul 2·N³; dot attention forward q·kᵀ and a·v, backward g·vᵀ, aᵀ·g, dS·k, dSᵀ·q:
#   six products of 2·B·T²·D; the training step: Conv1D on both texts (forward and two
#   backward products of 2·B·T·(4·64)·100 each) plus the dot attention's six.


def conv_flop(b, t):
    return 3 * 2 * (2 * b * t * 4 * 64 * 100)


CASES = [
    ("matmul 2048x2048x2048 (forward)", ["matmul", "2048"], 2 * 2048**3),
    ("dot attention B=32 T=128 D=128", ["dot", "32", "128", "128"], 12 * 32 * 128 * 128 * 128),
    ("dot attention B=8 T=1024 D=64", ["dot", "8", "1024", "64"], 12 * 8 * 1024 * 1024 * 64),
    ("additive attention B=16 T=64 D=64", ["additive", "16", "64", "64"], None),
    ("additive attention B=8 T=256 D=64", ["additive", "8", "256", "64"], None),
    ("seeds' step, dot, B=64 T=32", ["step", "dot", "64", "32"],
     conv_flop(64, 32) + 12 * 64 * 32 * 32 * 100),
    ("seeds' step, dot, B=32 T=128", ["step", "dot", "32", "128"],
     conv_flop(32, 128) + 12 * 32 * 128 * 128 * 100),
    ("seeds' step, additive, B=32 T=128", ["step", "additive", "32", "128"], None),
]
TRAIN = [("attograd train epoch, dot", "dot"), ("attograd train epoch, additive", "additive")]


def run_rss(cmd, env):
    """Runs cmd and returns (stdout, peak RSS in MB) from wait4's rusage."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = p.stdout.read().decode()
    err = p.stderr.read().decode()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {err.strip()[-400:]}")
    return out, ru.ru_maxrss / 1024.0


def seconds_of(out):
    m = re.search(r"^seconds ([0-9.eE+-]+)$", out, re.M)
    if not m:
        raise RuntimeError(f"no 'seconds' line in: {out[-300:]}")
    return float(m.group(1))


def pairs_per_second(out):
    m = re.search(r"training: [0-9.]+ s per epoch, ([0-9.]+) pairs per second", out)
    if not m:
        raise RuntimeError(f"no 'pairs per second' line in: {out[-300:]}")
    return float(m.group(1))


def env_threads(base, n):
    e = dict(base)
    e["OMP_NUM_THREADS"] = str(n)
    return e


def torch_env(coretype):
    e = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    if coretype:
        e["OPENBLAS_CORETYPE"] = coretype
    return e


PROBE = r"""
import ctypes, json, torch
maps = [l.split()[-1] for l in open('/proc/self/maps') if len(l.split()) >= 6]
blas = sorted({p for p in maps if re.search(r'(blas|mkl|blis|atlas)', p.split('/')[-1])})
core = None
for p in blas:
    if 'openblas' in p.split('/')[-1]:
        lib = ctypes.CDLL(p)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        core = lib.openblas_get_corename().decode()
print(json.dumps({'torch': torch.__version__, 'blas': blas, 'core': core}))
"""


def probe_torch(env):
    try:
        out = subprocess.run([sys.executable, "-c", "import re\n" + PROBE], env=env,
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode:
        return None
    return json.loads(out.stdout)


def cpu_has(flag):
    try:
        with open("/proc/cpuinfo") as f:
            return any(flag in line.split() for line in f if line.startswith("flags"))
    except OSError:
        return False


# ---- the PyTorch side (run as: bench.py --torch-case ARGS...) ----

def torch_case(args):
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    torch.manual_seed(7)

    def best_of(fn):
        best, start = 1e30, time.perf_counter()
        for r in range(-2, 200):
            t0 = time.perf_counter()
            fn()
            t = time.perf_counter() - t0
            if r >= 0:
                best = min(best, t)
            if r >= 2 and time.perf_counter() - start > 1.5:
                break
        return best

    def uniform(*shape):
        return torch.empty(*shape).uniform_(-1, 1)

    kind = args[0]
    if kind == "matmul":
        n = int(args[1])
        x, y = uniform(n, n), uniform(n, n)

        def fn():
            with torch.no_grad():
                x @ y
    elif kind in ("dot", "additive"):
        b, t, d = map(int, args[1:4])
        q, v = uniform(b, t, d).requires_grad_(), uniform(b, t, d).requires_grad_()
        scale = uniform(d).requires_grad_()

        def fn():
            if kind == "dot":
                s = torch.bmm(q, v.transpose(1, 2))
            else:  # the (B,Tq,Tv,D) tensor, as PyTorch code writes it
                s = (torch.tanh(q.unsqueeze(2) + v.unsqueeze(1)) * scale).sum(-1)
            z = torch.bmm(torch.softmax(s, dim=-1), v)
            z.backward(torch.ones_like(z))
    elif kind == "step":
        sys.path.insert(0, os.path.join(ROOT, "bench"))
        import torch_similarity as ts

        mode, b, t = args[1], int(args[2]), int(args[3])
        model = ts.SimilarityNet(10000, 64, 100, mode)
        opt = ts.KerasAdam(model.parameters(), 0.001)
        a = torch.randint(1, 10000, (b, t))
        bb = torch.randint(1, 10000, (b, t))
        y = (torch.arange(b) % 2).float()

        def fn():
            opt.zero_grad()
            loss = ts.bce(model(a, bb), y)
            loss.backward()
            opt.step()
    else:
        raise SystemExit(f"unknown case {kind}")
    print(f"seconds {best_of(fn):.9f}")


# ---- the driver ----

def fmt_t(s):
    return f"{s * 1e3:.1f} ms" if s < 10 else f"{s:.1f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", help="Bible pairs directory (attograd dataset bible)")
    ap.add_argument("--limit", type=int, default=10000, help="training pairs per epoch row")
    ap.add_argument("--only", help="run only the cases whose name contains this")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each case's interleaved sequence this many times and keep each "
                         "side's best (default 1)")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--openblas-coretype", default="best",
                    help="best (default), auto (OpenBLAS's own choice) or a core name")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--torch-case", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_case:
        return torch_case(a.torch_case)

    agb = os.path.join(a.build, "bin", "attograd_bench")
    agcli = os.path.join(a.build, "bin", "attograd")
    if not os.access(agb, os.X_OK):
        sys.exit(f"bench.py: {agb} not found: build first (cmake --build {a.build})")

    # PyTorch and its BLAS
    torch_info, tenv = None, None
    if not a.no_torch:
        tenv = torch_env(None)
        torch_info = probe_torch(tenv)
        if torch_info is None:
            print("PyTorch not installed (import torch failed): attograd only")
        else:
            if a.openblas_coretype == "best":
                if torch_info["core"] == "Prescott" and cpu_has("avx512f"):
                    tenv = torch_env("SkylakeX")
            elif a.openblas_coretype != "auto":
                tenv = torch_env(a.openblas_coretype)
            auto_core = torch_info["core"]
            torch_info = probe_torch(tenv)
            libs = ", ".join(torch_info["blas"]) or "none mapped"
            print(f"PyTorch {torch_info['torch']}; BLAS: {libs}")
            if torch_info["core"]:
                note = "" if auto_core == torch_info["core"] else \
                    f" (OPENBLAS_CORETYPE={tenv['OPENBLAS_CORETYPE']}; OpenBLAS's own choice " \
                    f"here is {auto_core})"
                print(f"OpenBLAS kernel: {torch_info['core']}{note}")
            else:
                print("WARNING: PyTorch's BLAS is not OpenBLAS: the reference is not the one "
                      "the issue names")
    up = open("/proc/loadavg").read().split()[:3]
    print(f"attograd: {agb}; load average at start {' '.join(up)}; {os.cpu_count()} CPUs")
    print()

    cases = [(n, ["ag", args], ["torch", args], fl) for n, args, fl in CASES]
    if a.data:
        for name, mode in TRAIN:
            common = ["--attention", mode, "--epochs", "1", "--limit", str(a.limit)]
            ag = [agcli, "train", "--data", a.data] + common
            tc = [sys.executable, os.path.join(ROOT, "bench", "torch_similarity.py"), "--data",
                  a.data] + common
            cases.append((f"{name} ({a.limit} pairs)", ["agcmd", ag], ["torchcmd", tc], None))
    if a.only:
        cases = [c for c in cases if a.only in c[0]]

    rows = []
    for name, ag, tc, flop in cases:
        res = {"case": name, "attograd": {}, "torch": {}}
        for th in [t for _ in range(max(a.repeat, 1)) for t in (1, 2)]:
            for side, spec in (("attograd", ag), ("torch", tc)):
                if side == "torch" and torch_info is None:
                    continue
                kind, args = spec
                try:
                    if kind == "ag":
                        out, rss = run_rss([agb] + args, env_threads(os.environ, th))
                        val = seconds_of(out)
                    elif kind == "torch":
                        out, rss = run_rss([sys.executable, os.path.abspath(__file__),
                                            "--torch-case"] + args, env_threads(tenv, th))
                        val = seconds_of(out)
                    elif kind == "agcmd":
                        out, rss = run_rss(args + ["--threads", str(th)], os.environ)
                        val = pairs_per_second(out)
                    else:
                        out, rss = run_rss(args + ["--threads", str(th)], tenv)
                        val = pairs_per_second(out)
                except RuntimeError as e:
                    print(f"{name}: {side} {th} thread(s): {e}", file=sys.stderr)
                    continue
                rate = kind in ("agcmd", "torchcmd")
                old = res[side].get(th)
                if old is None or (val > old["value"] if rate else val < old["value"]):
                    res[side][th] = {"value": val, "rss_mb": max(rss, old["rss_mb"] if old else 0)}
                else:
                    old["rss_mb"] = max(old["rss_mb"], rss)
        rows.append((res, flop, ag[0] in ("agcmd",)))
        print_row(res, flop, ag[0] == "agcmd", header=len(rows) == 1)
        sys.stdout.flush()
    up = open("/proc/loadavg").read().split()[:3]
    print(f"\nload average at end {' '.join(up)}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"torch": torch_info, "rows": [r[0] for r in rows]}, f, indent=1)


def best(side, rate):
    """(value, threads, rss) of the best thread count: most pairs/s or fewest seconds."""
    if not side:
        return None
    th = (max if rate else min)(side, key=lambda t: side[t]["value"])
    return side[th]["value"], th, side[th]["rss_mb"]


def print_row(res, flop, rate, header):
    if header:
        print("| case (best of 1 and 2 threads each) | attograd | PyTorch | ratio | attograd "
              "GFLOP/s | peak RSS attograd / PyTorch | attograd 1T / 2T | PyTorch 1T / 2T |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    ag, tc = best(res["attograd"], rate), best(res["torch"], rate)

    def cell(b):
        if not b:
            return "-"
        return f"{b[0]:.0f} pairs/s" if rate else fmt_t(b[0])

    def both(side):
        if not side:
            return "-"
        return " / ".join((f"{side[t]['value']:.0f}" if rate else fmt_t(side[t]["value"]))
                          if t in side else "-" for t in (1, 2))

    ratio = "-"
    if ag and tc:
        ratio = f"{ag[0] / tc[0]:.2f}" if rate else f"{tc[0] / ag[0]:.2f}"
    gf = f"{flop / ag[0] / 1e9:.0f}" if flop and ag else "-"
    rss = f"{ag[2]:.0f} MB" if ag else "-"
    rss += f" / {tc[2]:.0f} MB" if tc else ""
    print(f"| {res['case']} | {cell(ag)} | {cell(tc)} | {ratio} | {gf} | {rss} | "
          f"{both(res['attograd'])} | {both(res['torch'])} |")


if __name__ == "__main__":
    main()
