"""Time the fast numpy layers against the naive loops and PyTorch on the CPU.

Run from the repository root::

    .venv/bin/python benchmarks/layers.py [--repeat 3] [--threads 2] [--min-time 0.5]

Everything runs in one process, so the ratios compare like with like even on a
busy machine; absolute times are only indicative.  PyTorch is given as many
threads as numpy's BLAS library uses (both are printed).

Shapes (CIFAR-sized, from issue 8): a batch of 64 images of 32x32,
conv 3 -> 32 channels, 5x5, pad 2; conv 32 -> 16 channels, 3x3, pad 1; and a
2x2, stride-2 max pool on each conv's output.  Forward and backward, float64
and float32.

* fast: cnnbook.fast_layers.
* torch: torch.nn.functional on the CPU, forward with autograd recording,
  backward through autograd.
* naive: the instructor solutions of the exercises (answer cells of
  solutions/numpy_cnn/*.ipynb).  They loop over images, so they are timed on
  a few images and scaled to the full batch (their time is linear in the batch
  size): the median of --naive-rounds runs, each taken beside a run of the
  fast layer, whose median the naive/fast ratio uses.
The fast and torch times are medians of k runs taken in turns (fast, torch,
fast, torch, ...), k chosen so that the runs take about --min-time seconds
(at least 3).  With --repeat R the whole table is measured R times and the
goals of issue 8, printed at the end, are judged on the median ratio, with the
spread (min - max) beside it.
"""
import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_info, threadpool_limits

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # for autograder.cells, a top-level folder

from autograder.nbgrader_io.cells import solution_namespace  # noqa: E402
from cnnbook.fast_layers import (conv_backward_fast, conv_forward_fast,  # noqa: E402
                                 max_pool_backward_fast, max_pool_forward_fast)

BATCH = 64
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
CONV_CASES = [  # name, input channels, filters, kernel size, pad
    ("conv 3->32 5x5", 3, 32, 5, 2),
    ("conv 32->16 3x3", 32, 16, 3, 1),
]
GOALS = {  # (kind, dtype) -> largest allowed fast/torch ratio for forward + backward
    ("conv", np.float64): 1.5, ("conv", np.float32): 4.0,
    ("pool", np.float64): 2.0, ("pool", np.float32): 2.0,
}
MIN_SPEEDUP_OVER_NAIVE = 100
NAIVE_NOTEBOOKS = {
    "conv": ("convolution.ipynb", "conv_forward_naive", "conv_backward_naive"),
    "pool": ("max_pooling.ipynb", "max_pool_forward_naive", "max_pool_backward_naive"),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--naive-images", type=int, default=2,
                        help="images the naive loops are timed on (scaled to the batch of 64)")
    parser.add_argument("--naive-rounds", type=int, default=3,
                        help="runs of the naive loops, each beside a run of the fast layer")
    parser.add_argument("--min-time", type=float, default=0.5,
                        help="seconds of repeated runs behind each median")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure every layer this many times; the goals use the median")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for numpy's BLAS and for torch (default: BLAS's own count)")
    args = parser.parse_args()
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    if not 1 <= args.naive_images <= BATCH:
        parser.error(f"--naive-images must be between 1 and {BATCH}")
    if args.naive_rounds < 1 or args.repeat < 1:
        parser.error("--naive-rounds and --repeat must be at least 1")
    return args


def blas_threads(wanted=None):
    """Threads of numpy's BLAS library (set to ``wanted`` if given), and their source."""
    if wanted is not None:
        # Kept alive for the whole run: the limit lasts as long as this object.
        blas_threads.limiter = threadpool_limits(wanted, user_api="blas")
    blas = [info for info in threadpool_info() if info["user_api"] == "blas"]
    if blas:
        source = "--threads" if wanted is not None else "threadpoolctl"
        return blas[0]["num_threads"], f"{source}, {blas[0]['internal_api']}"
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable]), variable
    return os.cpu_count(), "os.cpu_count() (threadpoolctl finds no BLAS library)"


def median_times(runs, min_time, k=None):
    """Median seconds of each callable in ``runs`` over k rounds, and k.

    The callables take turns within every round, so a burst of load from other
    processes hits all of them alike and their ratios stay meaningful.  Unless
    given, k is chosen so that the rounds take about ``min_time`` seconds
    (3 <= k <= 50), after one warm-up round.
    """
    if k is None:
        start = time.perf_counter()
        for run in runs.values():
            run()  # warm-up: first-touch allocations, caches, lazy initialisation
        one_round = time.perf_counter() - start
        k = max(3, min(50, math.ceil(min_time / max(one_round, 1e-6))))
    times = {name: [] for name in runs}
    for _ in range(k):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}, k


def load_naive():
    """{'conv' | 'pool': (forward, backward)} from the instructor solutions."""
    naive = {}
    for kind, (notebook, forward, backward) in NAIVE_NOTEBOOKS.items():
        path = REPO_ROOT / "solutions" / "numpy_cnn" / notebook
        if not path.is_file():
            sys.exit(f"benchmarks/layers.py: the naive reference {path} is missing")
        namespace = solution_namespace(path, [forward, backward])
        naive[kind] = (namespace[forward], namespace[backward])
    return naive


def torch_pair(kind, params):
    """(forward, backward) with the numpy layers' API, computed by torch autograd."""
    def forward(*arrays_and_params):
        tensors = [torch.from_numpy(a).requires_grad_() for a in arrays_and_params[:-1]]
        if kind == "conv":
            out = F.conv2d(*tensors, padding=params["pad"])
        else:
            out = F.max_pool2d(tensors[0], POOL["pool_height"], POOL["stride"])
        return out, (out, tensors)

    def backward(dout, cache):
        out, tensors = cache
        out.backward(torch.from_numpy(dout))
        return tuple(t.grad for t in tensors)
    return forward, backward


def forward_and_both(forward, backward, arrays, params, dout):
    """Two callables: the forward pass alone, and forward followed by backward."""
    return (lambda: forward(*arrays, params),
            lambda: backward(dout, forward(*arrays, params)[1]))


def naive_and_fast_times(naive_pair, fast_pair, arrays, params, dout, images, rounds):
    """Forward + backward seconds of the naive loops (scaled to the batch) and of
    the fast layers, medians of ``rounds`` runs taken in turns.

    The naive loops run on ``images`` images; their time grows linearly with
    the batch (they loop over images), so it is scaled by BATCH / images.
    """
    small = (arrays[0][:images],) + tuple(arrays[1:])
    naive = forward_and_both(*naive_pair, small, params, dout[:images])[1]
    fast = forward_and_both(*fast_pair, arrays, params, dout)[1]
    times, _ = median_times({"naive": naive, "fast": fast}, min_time=0, k=rounds)
    return times["naive"] * BATCH / images, times["fast"]


def check_agreement(fast, torch_layer, arrays, params, dout, dtype):
    """The timings only mean something if the fast layer gives PyTorch's answers."""
    out, cache = fast[0](*arrays, params)
    grads = fast[1](dout, cache)
    reference, ref_cache = torch_layer[0](*arrays, params)
    ref_grads = torch_layer[1](dout, ref_cache)
    mine = [out] + list(grads if isinstance(grads, tuple) else (grads,))
    for result, expected in zip(mine, [reference] + list(ref_grads)):
        expected = expected.detach().numpy()
        scale = max(1.0, float(np.abs(expected).max()))
        error = float(np.abs(result - expected).max())
        if error > (1e-10 if dtype == np.float64 else 1e-4) * scale:
            sys.exit(f"fast layer disagrees with PyTorch (max error {error:.2e}); not timing it")


def layers(dtype, rng):
    """Each benchmarked layer: (name, kind, arrays, params, dout)."""
    for name, c, f, k, pad in CONV_CASES:
        x = rng.standard_normal((BATCH, c, 32, 32)).astype(dtype)
        w = (rng.standard_normal((f, c, k, k)) / math.sqrt(c * k * k)).astype(dtype)
        b = rng.standard_normal(f).astype(dtype)
        params = {"stride": 1, "pad": pad}
        out, _ = conv_forward_fast(x, w, b, params)
        yield name, "conv", (x, w, b), params, rng.standard_normal(out.shape).astype(dtype)
        pooled_shape = out.shape[:2] + (out.shape[2] // 2, out.shape[3] // 2)
        yield (f"max pool 2x2 on {name}", "pool", (out,), POOL,
               rng.standard_normal(pooled_shape).astype(dtype))


def measure(name, kind, arrays, params, dout, dtype, fast, naive, args):
    """One table row: times in seconds, k, and the two ratios."""
    torch_layer = torch_pair(kind, params)
    check_agreement(fast[kind], torch_layer, arrays, params, dout, dtype)
    runs = dict(zip(("fast fwd", "fast f+b"), forward_and_both(*fast[kind], arrays, params, dout)))
    runs.update(zip(("torch fwd", "torch f+b"),
                    forward_and_both(*torch_layer, arrays, params, dout)))
    times, k = median_times(runs, args.min_time)
    times["naive f+b"], fast_beside_naive = naive_and_fast_times(
        naive[kind], fast[kind], arrays, params, dout, args.naive_images, args.naive_rounds)
    return times, k, times["fast f+b"] / times["torch f+b"], times["naive f+b"] / fast_beside_naive


ROW = "{:<32} {:<8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>3} {:>10} {:>10}"


def print_row(name, dtype, times, k, ratio, speedup):
    ms = [f"{1e3 * times[key]:.2f}" for key in ("fast fwd", "fast f+b", "torch fwd", "torch f+b")]
    print(ROW.format(name, np.dtype(dtype).name, *ms, f"{1e3 * times['naive f+b']:.0f}", k,
                     f"{ratio:.2f}", f"{speedup:.0f}"))


def print_goals(results):
    """The goals of issue 8, judged on the median over repeats, with the spread."""
    print()
    print("Goals of issue 8 (forward + backward; median [min - max] over repeats):")
    for (name, dtype, kind), measured in results.items():
        ratios, speedups = zip(*measured)
        ratio, speedup = float(np.median(ratios)), float(np.median(speedups))
        limit = GOALS[(kind, dtype)]
        fast_enough = "met" if ratio <= limit else "NOT met"
        far_enough = "met" if speedup >= MIN_SPEEDUP_OVER_NAIVE else "NOT met"
        print(f"  {name:<32} {np.dtype(dtype).name:<8} "
              f"fast/torch {ratio:5.2f} [{min(ratios):.2f} - {max(ratios):.2f}] <= {limit}: "
              f"{fast_enough};  naive/fast {speedup:5.0f} [{min(speedups):.0f} - "
              f"{max(speedups):.0f}] >= {MIN_SPEEDUP_OVER_NAIVE}: {far_enough}")


def main():
    args = parse_args()
    threads, source = blas_threads(args.threads)
    torch.set_num_threads(threads)
    naive = load_naive()
    fast = {"conv": (conv_forward_fast, conv_backward_fast),
            "pool": (max_pool_forward_fast, max_pool_backward_fast)}
    print(f"numpy {np.__version__}: BLAS threads = {threads} (from {source}); "
          f"torch {torch.__version__}: threads = {torch.get_num_threads()}")
    print(f"batch {BATCH}, 32x32 inputs; times in ms; fast and torch: median of k runs in turns; "
          f"naive: median of {args.naive_rounds} runs on {args.naive_images} image(s) scaled "
          f"x{BATCH / args.naive_images:g}, each beside a fast run (naive/fast uses those)")
    header = ROW.format("layer", "dtype", "fast fwd", "fast f+b", "torch fwd", "torch f+b",
                        "naive f+b", "k", "fast/torch", "naive/fast")
    results = {}
    for repeat in range(args.repeat):
        print(f"\nrepeat {repeat + 1} of {args.repeat}\n{header}\n{'-' * len(header)}")
        for dtype in (np.float64, np.float32):
            rng = np.random.default_rng(0)
            for name, kind, arrays, params, dout in layers(dtype, rng):
                times, k, ratio, speedup = measure(name, kind, arrays, params, dout, dtype,
                                                   fast, naive, args)
                print_row(name, dtype, times, k, ratio, speedup)
                results.setdefault((name, dtype, kind), []).append((ratio, speedup))
    print_goals(results)


if __name__ == "__main__":
    main()
