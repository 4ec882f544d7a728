"""Pick the compute device (CUDA, then Apple MPS, then CPU) and the numeric precision, the latter by
measuring on this machine rather than assuming."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name

from engine.errors import DeviceError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# A lower precision that is this many times slower than fp32 on `conv_seconds`' small convolution is not measured
# further. Where the CPU computes bf16 natively (AVX512-BF16) that convolution takes 0.5-2x fp32's time; where it
# only emulates it, one pass of the full probe took minutes: on a 2-core AMD EPYC without AVX-512 a convolution
# took 3.97 s in bf16 against 0.012 s in fp32 (330x; note on issue 24), and `render` sat in the measurement for
# minutes before its first iteration.
SCREEN_SLOWER = 4.0


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


def conv_seconds(device: torch.device, precision: Precision) -> float:
    """Seconds of one small convolution (32 channels, 3 x 3, on 32 x 32 px) forward and backward in `precision` on
    `device`, the best of two after a warm-up: about a millisecond in a precision the hardware computes natively,
    and a fraction of a second in one it only emulates. A screen before the full measurement, whose passes would
    take minutes each in an emulated precision."""
    generator = torch.Generator().manual_seed(0)
    dtype = DTYPES[precision.name]
    image = torch.rand(1, 32, 32, 32, generator=generator).to(device, dtype).requires_grad_(True)
    kernel = torch.rand(32, 32, 3, 3, generator=generator).to(device, dtype).requires_grad_(True)
    best = float("inf")
    for round_ in range(3):
        _sync(device)
        start = time.perf_counter()
        F.conv2d(image, kernel, padding=1).float().sum().backward()
        _sync(device)
        if round_:
            best = min(best, time.perf_counter() - start)
    return best


def screened(candidates: list[str], seconds: Callable[[Precision], float]) -> list[str]:
    """`candidates` (fp32 first) without those that `seconds` (a small workload's time in a precision) finds more
    than SCREEN_SLOWER times slower than fp32: they cannot win the full measurement, and would make it last
    minutes. A precision whose kernels are missing is left for the full measurement to skip."""
    if len(candidates) < 2 or candidates[0] != "fp32":
        return candidates
    try:
        reference = seconds(Precision("fp32"))
    except RuntimeError:
        return candidates
    kept = ["fp32"]
    for name in candidates[1:]:
        try:
            candidate = seconds(Precision(name))
        except RuntimeError:  # no kernel for it here: the full measurement skips it too
            kept.append(name)
            continue
        # fp32 timed again after the candidate, keeping the best: on a machine busy with other work, a burst of load
        # during the first fp32 timing made an emulated bf16 look no slower, and the full measurement then spent
        # minutes in bf16 passes (seen with a benchmark running beside the tests)
        reference = min(reference, seconds(Precision("fp32")))
        if candidate <= SCREEN_SLOWER * reference:
            kept.append(name)
    return kept


def measure_precision(
    device: torch.device,
    workload_for: Callable[[Precision], Callable[[], None]],
    rounds: int = 3,
    min_speedup: float = 1.3,
    screen: Callable[[Precision], float] | None = None,
) -> Precision:
    """The fastest precision on `device` for the workload (one forward and backward pass) that `workload_for`
    builds. A lower precision must be at least `min_speedup` times faster than fp32 to be chosen: a small gain
    is not worth any risk to quality. The candidates are timed in interleaved rounds and each keeps its best
    time, so a burst of load from another program hits them alike instead of deciding the choice.

    On a CPU, which may only emulate bf16, the candidates are first screened (`screened`) by `screen`, a small
    workload's seconds in a precision (default: conv_seconds on `device`), so an emulated precision costs a
    fraction of a second here rather than minutes of full passes."""
    candidates = candidate_precisions(device)
    if screen is None and device.type == "cpu":
        screen = partial(conv_seconds, device)
    if screen is not None:
        candidates = screened(candidates, screen)
    workloads: dict[str, Callable[[], None]] = {}
    for name in candidates:
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
