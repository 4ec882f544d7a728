"""Pick the compute device (CUDA, then Apple MPS, then CPU) and the numeric precision, the latter by
measuring on this machine rather than assuming."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.errors import DeviceError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def pick_device(name: str = "auto") -> torch.device:
    """The torch device for `name` ("auto", "cuda", "mps" or "cpu"); DeviceError when it is not available."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise DeviceError("cuda", "no CUDA GPU is available to PyTorch on this machine (try --device cpu)")
    if name == "mps" and not mps:
        raise DeviceError("mps", "Apple's Metal (MPS) backend is not available on this machine (try --device cpu)")
    if name not in ("cuda", "mps", "cpu"):
        raise DeviceError(name, "unknown device (use auto, cuda, mps or cpu)")
    return torch.device(name)


@dataclass(frozen=True)
class Precision:
    """The dtype the network's weights and activations are kept in; Gram matrices and losses stay fp32
    whatever it is. The network is converted once rather than autocast: autocast re-casts every weight on
    every forward pass, a fixed cost that made bf16 slower than fp32 at 128 px on this CPU."""

    name: str  # "fp32", "bf16" or "fp16"

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.name]


def candidate_precisions(device: torch.device) -> list[str]:
    """Precisions worth trying on `device`, fp32 first."""
    if device.type == "cuda":
        return ["fp32", "bf16"] if torch.cuda.is_bf16_supported() else ["fp32", "fp16"]
    if device.type == "cpu":
        return ["fp32", "bf16"]
    return ["fp32"]


def measure_precision(
    device: torch.device,
    workload_for: Callable[[Precision], Callable[[], None]],
    rounds: int = 3,
    min_speedup: float = 1.3,
) -> Precision:
    """The fastest precision on `device` for the workload (one forward and backward pass) that `workload_for`
    builds. A lower precision must be at least `min_speedup` times faster than fp32 to be chosen: a small gain
    is not worth any risk to quality. The candidates are timed in interleaved rounds and each keeps its best
    time, so a burst of load from another program hits them alike instead of deciding the choice."""
    workloads: dict[str, Callable[[], None]] = {}
    for name in candidate_precisions(device):
        try:
            workload = workload_for(Precision(name))
            workload()  # warm-up: kernel selection, allocator
        except RuntimeError:  # the dtype is not supported by some kernel here
            continue
        workloads[name] = workload
    timings = dict.fromkeys(workloads, float("inf"))
    for _ in range(rounds):
        for name, workload in workloads.items():
            _sync(device)
            start = time.perf_counter()
            workload()
            _sync(device)
            timings[name] = min(timings[name], time.perf_counter() - start)
    fastest = min(timings, key=timings.__getitem__)
    if fastest != "fp32" and timings["fp32"] / timings[fastest] < min_speedup:
        fastest = "fp32"
    return Precision(fastest)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
