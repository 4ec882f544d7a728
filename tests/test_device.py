"""Device and precision choice (engine/device.py), including the CUDA and MPS branches, which a CPU-only machine
reaches only by pretending: torch's availability checks are replaced, and precisions are timed on a fake clock."""

from __future__ import annotations

import pytest
import torch

import engine.device as device_module
from engine.device import Precision, candidate_precisions, measure_precision, pick_device
from engine.errors import DeviceError


def pretend(monkeypatch: pytest.MonkeyPatch, cuda: bool = False, mps: bool = False, bf16: bool = True) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(("cuda", "mps", "expected"), [(True, True, "cuda"), (False, True, "mps"),
                                                        (False, False, "cpu")])
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    pretend(monkeypatch, cuda=cuda, mps=mps)
    assert pick_device("auto") == torch.device(expected)


@pytest.mark.parametrize(("name", "words"), [("cuda", "no CUDA GPU"), ("mps", "Metal"), ("tpu", "unknown device")])
def test_an_unavailable_or_unknown_device_is_refused_with_the_way_out(monkeypatch, name, words):
    pretend(monkeypatch)
    with pytest.raises(DeviceError) as caught:
        pick_device(name)
    assert caught.value.path == name
    assert words in caught.value.reason


def test_an_available_device_is_given_as_asked(monkeypatch):
    pretend(monkeypatch, cuda=True)
    assert pick_device("cuda") == torch.device("cuda")
    assert pick_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(("device", "bf16", "expected"), [
    ("cuda", True, ["fp32", "bf16"]),   # Ampere and later
    ("cuda", False, ["fp32", "fp16"]),  # older GPUs: half precision instead
    ("cpu", True, ["fp32", "bf16"]),
    ("mps", True, ["fp32"]),
])
def test_candidate_precisions_per_device(monkeypatch, device, bf16, expected):
    pretend(monkeypatch, cuda=True, bf16=bf16)
    assert candidate_precisions(torch.device(device)) == expected


class FakeClock:
    """perf_counter for engine.device: each fake workload advances it by its own cost, so the choice is exact."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def workloads(self, seconds: dict[str, float], unsupported: tuple[str, ...] = ()):
        def workload_for(precision: Precision):
            def work() -> None:
                if precision.name in unsupported:
                    raise RuntimeError(f'"conv" not implemented for {precision.name}')
                self.now += seconds[precision.name]
            return work
        return workload_for


@pytest.mark.parametrize(("device", "seconds", "unsupported", "expected"), [
    ("cpu", {"fp32": 1.0, "bf16": 0.4}, (), "bf16"),             # clearly faster: chosen
    ("cpu", {"fp32": 1.0, "bf16": 0.9}, (), "fp32"),             # a small gain is not worth the risk
    ("cpu", {"fp32": 1.0, "bf16": 0.4}, ("bf16",), "fp32"),      # no bf16 kernels here: skipped, not a crash
    ("cuda", {"fp32": 1.0, "fp16": 0.3}, (), "fp16"),            # an older GPU without bf16
    ("cuda", {"fp32": 0.2, "fp16": 0.3}, (), "fp32"),            # half slower than full: full
])
def test_precision_is_chosen_by_measurement(monkeypatch, device, seconds, unsupported, expected):
    pretend(monkeypatch, cuda=True, bf16="bf16" in seconds)
    clock = FakeClock()
    monkeypatch.setattr(device_module.time, "perf_counter", clock)
    monkeypatch.setattr(device_module, "_sync", lambda device: None)  # no GPU to wait for
    chosen = measure_precision(torch.device(device), clock.workloads(seconds, unsupported))
    assert chosen == Precision(expected)


def test_one_slow_round_does_not_decide_the_choice(monkeypatch):
    """Candidates are timed in interleaved rounds and each keeps its best: a burst of load in one round (here
    bf16's last) does not hand the choice to fp32."""
    pretend(monkeypatch)
    clock = FakeClock()
    monkeypatch.setattr(device_module.time, "perf_counter", clock)
    costs = {"fp32": iter([1.0, 1.0, 1.0, 1.0]), "bf16": iter([0.4, 0.4, 0.4, 5.0])}  # warm-up, then 3 rounds

    def workload_for(precision: Precision):
        def work() -> None:
            clock.now += next(costs[precision.name])
        return work

    assert measure_precision(torch.device("cpu"), workload_for) == Precision("bf16")



def test_a_precision_the_cpu_only_emulates_is_screened_out_before_the_full_measurement(monkeypatch):
    """Where bf16 is emulated (a CPU without AVX512-BF16) one pass of the full probe takes minutes: a small
    screen that finds it many times slower than fp32 keeps it from being built or timed at all."""
    pretend(monkeypatch)
    clock = FakeClock()
    monkeypatch.setattr(device_module.time, "perf_counter", clock)
    built: list[str] = []
    workloads = clock.workloads({"fp32": 1.0, "bf16": 0.4})

    def workload_for(precision: Precision):
        built.append(precision.name)
        return workloads(precision)

    emulated = {"fp32": 0.001, "bf16": 0.001 * (device_module.SCREEN_SLOWER + 1)}
    chosen = measure_precision(torch.device("cpu"), workload_for, screen=lambda p: emulated[p.name])
    assert chosen == Precision("fp32") and built == ["fp32"]
    # a precision the screen finds about as fast goes on to the full measurement, which decides
    native = {"fp32": 0.001, "bf16": 0.0012}
    built.clear()
    chosen = measure_precision(torch.device("cpu"), workload_for, screen=lambda p: native[p.name])
    assert chosen == Precision("bf16") and built == ["fp32", "bf16"]


def test_the_screen_measures_a_real_convolution_in_each_precision():
    seconds = {name: device_module.conv_seconds(torch.device("cpu"), Precision(name)) for name in ("fp32", "bf16")}
    assert all(0 < s < 30 for s in seconds.values())
    kept = device_module.screened(["fp32", "bf16"], lambda p: seconds[p.name])
    assert kept[0] == "fp32" and kept[1:] in ([], ["bf16"])
    assert ("bf16" in kept) == (seconds["bf16"] <= device_module.SCREEN_SLOWER * seconds["fp32"])


def test_a_burst_of_load_during_the_fp32_screen_does_not_let_an_emulated_precision_through():
    # the first fp32 timing was hit by other work (50 ms instead of 1 ms); timed again after bf16, it is 1 ms
    timings = {"fp32": [0.05, 0.001], "bf16": [0.01]}
    asked: list[str] = []

    def seconds(precision: Precision) -> float:
        asked.append(precision.name)
        return timings[precision.name].pop(0)

    assert device_module.screened(["fp32", "bf16"], seconds) == ["fp32"]
    assert asked == ["fp32", "bf16", "fp32"]
