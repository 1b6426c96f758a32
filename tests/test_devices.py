"""cnnbook.devices: the CUDA -> MPS -> CPU order and the per-device settings."""
import pytest
import torch
from torch import nn

from cnnbook import devices
from cnnbook.devices import device_settings, pick_device


@pytest.fixture
def fake_hardware(monkeypatch):
    """Pretend which accelerators exist: set(cuda=..., mps=..., bf16=...)."""
    monkeypatch.delenv("CNNBOOK_DEVICE", raising=False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)

    def set_(cuda=False, mps=False, bf16=True):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Fake GPU")
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    return set_


@pytest.mark.parametrize("cuda, mps, expected", [
    (True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_device_order(fake_hardware, capsys, cuda, mps, expected):
    fake_hardware(cuda=cuda, mps=mps)
    assert pick_device().type == expected
    assert capsys.readouterr().out.startswith(f"Device: {expected}")


def test_explicit_choice_and_environment_override(fake_hardware, monkeypatch):
    fake_hardware(cuda=True)
    assert pick_device("cpu", verbose=False).type == "cpu"
    monkeypatch.setenv("CNNBOOK_DEVICE", "cpu")
    assert pick_device(verbose=False).type == "cpu"


def test_unavailable_or_unknown_device_is_a_clear_error(fake_hardware):
    fake_hardware(cuda=False)
    with pytest.raises(RuntimeError, match="'cuda' was asked for but is not available"):
        pick_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'xla'"):
        pick_device("xla")


def test_cpu_settings_use_full_precision(fake_hardware, capsys):
    fake_hardware()
    settings = device_settings(torch.device("cpu"))
    assert settings.amp_dtype is None and not settings.channels_last and not settings.compile
    assert "mixed precision off" in capsys.readouterr().out
    x = torch.ones(2, 2)
    with settings.autocast():
        assert (x @ x).dtype == torch.float32


@pytest.mark.parametrize("bf16, dtype", [(True, torch.bfloat16), (False, torch.float16)])
def test_cuda_settings(fake_hardware, bf16, dtype):
    fake_hardware(cuda=True, bf16=bf16)
    torch.backends.cudnn.benchmark = False
    settings = device_settings(torch.device("cuda"), verbose=False)
    assert settings.amp_dtype == dtype
    assert settings.needs_grad_scaler == (dtype == torch.float16)
    assert settings.channels_last
    assert torch.backends.cudnn.benchmark
    assert device_settings(torch.device("cuda"), amp=False, verbose=False).amp_dtype is None


def test_channels_last_layout_for_model_and_batch():
    settings = device_settings(torch.device("cpu"), channels_last=True, verbose=False)
    model = settings.prepare_model(nn.Conv2d(3, 4, 3))
    assert model.weight.is_contiguous(memory_format=torch.channels_last)
    x = settings.prepare_batch(torch.zeros(2, 3, 8, 8))
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert model(x).shape == (2, 4, 6, 6)


def test_describe_names_cpu_threads(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert devices.describe("cpu") == "cpu (4 threads)"
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert devices.describe("cpu") == "cpu (1 thread)"


@pytest.mark.parametrize("cuda, env, expected", [
    (False, "", True), (True, "", False), (True, "1", True), (False, "0", False)])
def test_quick_mode_default(fake_hardware, monkeypatch, cuda, env, expected):
    fake_hardware(cuda=cuda)
    monkeypatch.setenv("CNNBOOK_QUICK", env)
    assert devices.quick_mode() is expected
    assert devices.quick_mode(not expected) is (not expected)


def test_lab_device_uses_one_cpu_thread_in_quick_mode(fake_hardware, monkeypatch, capsys):
    fake_hardware()
    monkeypatch.delenv("CNNBOOK_QUICK", raising=False)
    monkeypatch.delenv("CNNBOOK_THREADS", raising=False)
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    settings, quick = devices.lab_device()
    assert quick and settings.device.type == "cpu" and threads == [1]
    assert "quick mode" in capsys.readouterr().out
    threads.clear()
    assert devices.lab_device(quick=False, verbose=False)[1] is False and threads == []
    monkeypatch.setenv("CNNBOOK_THREADS", "3")
    devices.lab_device(verbose=False)
    assert threads == [3]
