"""benchmarks/layers.py: its timing helpers, its correctness guard, and one full run (slow)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnbook.fast_layers import conv_backward_fast, conv_forward_fast

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "layers.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("layers_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_median_times_runs_every_callable_k_times_in_turns(bench):
    calls = []
    times, k = bench.median_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                  min_time=0, k=4)
    assert k == 4 and calls == ["a", "b"] * 4
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())


def test_median_times_chooses_k_between_3_and_50(bench):
    _, k = bench.median_times({"a": lambda: None}, min_time=0)
    assert k == 3
    _, k = bench.median_times({"a": lambda: None}, min_time=10)
    assert k == 50


def test_naive_time_is_scaled_from_a_few_images_to_the_batch(bench):
    seen = []

    def naive_forward(x, params):
        seen.append(len(x))
        return x, None

    def fast_forward(x, params):
        return x, None

    arrays = (np.zeros((bench.BATCH, 1, 2, 2)),)
    dout = np.zeros_like(arrays[0])
    bench.naive_and_fast_times((naive_forward, lambda d, c: d), (fast_forward, lambda d, c: d),
                               arrays, {}, dout, images=4, rounds=2)
    assert seen == [4, 4]


def test_a_wrong_fast_layer_is_refused_before_timing(bench):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), np.zeros(4)
    params = {"stride": 1, "pad": 1}
    dout = rng.standard_normal((2, 4, 6, 6))
    torch_layer = bench.torch_pair("conv", params)
    right = (conv_forward_fast, conv_backward_fast)
    bench.check_agreement(right, torch_layer, (x, w, b), params, dout, np.float64)

    def wrong_backward(d, cache):
        dx, dw, db = conv_backward_fast(d, cache)
        return dx, dw * 1.01, db
    with pytest.raises(SystemExit, match="disagrees with PyTorch"):
        bench.check_agreement((conv_forward_fast, wrong_backward), torch_layer, (x, w, b),
                              params, dout, np.float64)


@pytest.mark.slow
def test_the_benchmark_runs_and_reports_every_goal():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--min-time", "0", "--naive-images", "1",
         "--naive-rounds", "1", "--threads", "1"],
        capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    goals = result.stdout.split("Goals of issue 8")[1].strip().splitlines()[1:]
    assert len(goals) == 8  # 2 convs + 2 pools, float64 and float32
    assert all("fast/torch" in line and "naive/fast" in line for line in goals)
