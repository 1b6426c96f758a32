"""Which accelerator the labs run on, and the settings that make it fast.

:func:`pick_device` chooses CUDA, then Apple's MPS, then the CPU, and prints
its choice.  :func:`device_settings` adds what suits that device: mixed
precision (bfloat16 where the GPU supports it, float16 with loss scaling on
older GPUs, none on the CPU, where it would mostly slow things down),
channels-last memory layout and cuDNN's autotuner on CUDA, and
``torch.compile`` only when asked for, because compiling costs a minute of
start-up that a short run never wins back.
"""
import contextlib
import os
from dataclasses import dataclass

import torch

DEVICE_ORDER = ("cuda", "mps", "cpu")


def _available(kind):
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        return bool(mps and mps.is_available())
    return kind == "cpu"


def pick_device(prefer=None, verbose=True):
    """The first available of CUDA, MPS and CPU, as a ``torch.device``.

    ``prefer`` (or ``$CNNBOOK_DEVICE``) names a device to use instead, e.g.
    "cpu" to compare against the accelerator; asking for one that is not
    there is an error, not a silent fallback.
    """
    prefer = prefer or os.environ.get("CNNBOOK_DEVICE") or None
    if prefer is not None:
        kind = torch.device(prefer).type
        if kind not in DEVICE_ORDER:
            raise ValueError(f"unknown device {prefer!r}; choose one of {DEVICE_ORDER}")
        if not _available(kind):
            raise RuntimeError(f"device {prefer!r} was asked for but is not available here")
        device = torch.device(prefer)
    else:
        device = torch.device(next(k for k in DEVICE_ORDER if _available(k)))
    if verbose:
        print(f"Device: {describe(device)}")
    return device


def describe(device):
    """A short human-readable name, e.g. "cuda (NVIDIA H100 80GB HBM3)"."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
    return device.type


@dataclass(frozen=True)
class DeviceSettings:
    """How to run on ``device``: the AMP dtype (None: full float32), whether to
    use channels-last tensors, whether float16 needs a gradient scaler, and
    whether models are compiled."""

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    compile: bool

    @property
    def needs_grad_scaler(self):
        return self.amp_dtype == torch.float16

    def autocast(self):
        """Context manager for the forward pass (a no-op without AMP)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def prepare_model(self, model):
        """Move ``model`` to the device in the chosen layout, compiled if asked."""
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return torch.compile(model) if self.compile else model

    def prepare_batch(self, x):
        """Put an image batch in the layout the model expects."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def amp_dtype_for(device):
    """bfloat16 on GPUs that support it, float16 on older CUDA GPUs, else None."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def device_settings(device=None, amp=True, channels_last=None, compile=False, threads=None,
                    verbose=True):
    """The :class:`DeviceSettings` for ``device`` (default: :func:`pick_device`).

    On CUDA this also switches on ``torch.backends.cudnn.benchmark``, which
    times the convolution algorithms once per input shape and keeps the
    fastest; the labs' shapes are fixed, so that pays off at once.
    ``threads`` (or ``$CNNBOOK_THREADS``) sets the number of CPU threads
    PyTorch uses: on a machine whose cores are busy with other work, one
    thread can be several times faster than threads that wait for each other.
    """
    threads = threads or os.environ.get("CNNBOOK_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    device = torch.device(device) if device is not None else pick_device(verbose=verbose)
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.backends.cudnn.benchmark = True
    settings = DeviceSettings(
        device=device,
        amp_dtype=amp_dtype_for(device) if amp else None,
        channels_last=on_cuda if channels_last is None else bool(channels_last),
        compile=bool(compile),
    )
    if verbose:
        print(_settings_line(settings))
    return settings


def _settings_line(settings):
    amp_name = str(settings.amp_dtype).replace("torch.", "") if settings.amp_dtype else "off"
    return (f"Settings: mixed precision {amp_name}, channels-last "
            f"{'on' if settings.channels_last else 'off'}, torch.compile "
            f"{'on' if settings.compile else 'off'}")


def quick_mode(quick=None, device=None):
    """Whether a lab runs in quick mode (a small subset, few epochs).

    ``quick`` True/False decides; None defers to ``$CNNBOOK_QUICK`` ("1" or
    "0") and, if that is unset, means quick everywhere but on a CUDA GPU.
    """
    if quick is not None:
        return bool(quick)
    setting = os.environ.get("CNNBOOK_QUICK", "").strip()
    if setting in ("0", "1"):
        return setting == "1"
    device = torch.device(device) if device is not None else pick_device(verbose=False)
    return device.type != "cuda"


def lab_device(quick=None, compile=False, verbose=True):
    """Device settings and quick mode for a lab page: ``(settings, quick)``.

    Picks the device, resolves quick mode (:func:`quick_mode`) and, in quick
    mode on a CPU, runs PyTorch on one thread (unless ``$CNNBOOK_THREADS``
    says otherwise): a quick run's small batches gain little from a second
    thread, and on a machine whose cores are busy with other work, threads
    that wait for each other can be several times slower than one.
    """
    device = pick_device(verbose=False)
    quick = quick_mode(quick, device)
    threads = 1 if quick and device.type == "cpu" and not os.environ.get("CNNBOOK_THREADS") else None
    settings = device_settings(device, compile=compile, threads=threads, verbose=False)
    if verbose:
        print(f"Device: {describe(device)}; {'quick' if quick else 'full'} mode")
        print(_settings_line(settings))
    return settings, quick
