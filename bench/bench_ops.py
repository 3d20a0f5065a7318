"""bench_ops.py — the problems of bench_ops.c in PyTorch on CPU (2 threads):
matmul and conv1d, forward and forward+backward, float32, median seconds.
PyTorch's conv1d takes its native (B,C,T) layout."""
import statistics
import time

import torch

torch.set_num_threads(2)
REPS = 50


def timed(fn):
    """Median and best seconds (on a busy machine the best is steadier)."""
    ts = []
    for r in range(-5, REPS):
        t0 = time.perf_counter()
        fn()
        if r >= 0:
            ts.append(time.perf_counter() - t0)
    return statistics.median(ts), min(ts)


def report(name, fwd):
    def fb():
        z = fwd()
        z.backward(torch.ones_like(z))

    def f():
        with torch.no_grad():
            fwd()

    (fm, fbest), (bm, bbest) = timed(f), timed(fb)
    print(f"{name:<40} fwd {fm:.6f} s (best {fbest:.6f})  fwd+bwd {bm:.6f} s (best {bbest:.6f})")


def bench_matmul(m, k, n):
    x = torch.empty(m, k).uniform_(-1, 1).requires_grad_()
    y = torch.empty(k, n).uniform_(-1, 1).requires_grad_()
    report(f"matmul ({m},{k})x({k},{n})", lambda: x @ y)


def bench_conv(b, t, c, k, f):
    x = torch.empty(b, c, t).uniform_(-1, 1).requires_grad_()
    w = torch.empty(f, c, k).uniform_(-0.1, 0.1).requires_grad_()
    bias = torch.zeros(f, requires_grad=True)
    report(f"conv1d same B={b} T={t} C={c} K={k} F={f}",
           lambda: torch.nn.functional.conv1d(x, w, bias, padding="same"))


print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
bench_matmul(64 * 40, 64, 100)
bench_matmul(2560, 200, 64)
bench_conv(64, 40, 64, 4, 100)
bench_conv(64, 20, 64, 4, 100)
bench_conv(64, 60, 64, 4, 100)
