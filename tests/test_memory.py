"""Running out of memory: the estimate before a run (and the size that fits), and a run that runs out anyway,
which ends with an OutOfMemory error that suggests a smaller size while the last good picture is kept; from the
engine, and from the command line with a real allocation failure under an address-space limit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import OutOfMemory
from engine.memory import (
    FIT_MARGIN,
    SIZE_STEP,
    check_memory,
    estimate_bytes,
    is_out_of_memory,
    largest_fitting_size,
    system_available_bytes,
)
from engine.run import StyleRun
from engine.settings import RenderSettings

ROOT = Path(__file__).resolve().parent.parent
MB = 1024**2
CPU_ALLOCATOR_FAILURE = ("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                         "you tried to allocate 17179869184 bytes. Error code 12 (Cannot allocate memory)")


def test_estimate_matches_the_measured_peaks(cat, wave):
    """The figures bench/bench_soak.py --calibrate measured on the CPU (fp32, one scale, L-BFGS): 236 MB at 256 px
    and 668 MB at 512 px more than the process held before the run. The estimate may be a little high, not low."""
    settings = RenderSettings(size=256, multiscale=False)
    at_256 = estimate_bytes(cat.shape, wave.shape, settings)
    at_512 = estimate_bytes(cat.shape, wave.shape, settings.replaced(size=512))
    assert 236 * MB <= at_256 <= 1.3 * 236 * MB
    assert 668 * MB <= at_512 <= 1.3 * 668 * MB
    assert estimate_bytes(cat.shape, wave.shape, settings.replaced(size=4096)) > 10 * at_512
    half = estimate_bytes(cat.shape, wave.shape, settings, element_size=2)
    assert half < at_256  # bf16 activations take half the room


def test_largest_fitting_size(cat, wave):
    settings = RenderSettings(size=2048)
    available = round(estimate_bytes(cat.shape, wave.shape, settings.replaced(size=700)) / FIT_MARGIN)
    fits = largest_fitting_size(cat.shape, wave.shape, settings, available)
    assert fits is not None and fits % SIZE_STEP == 0
    assert 700 - SIZE_STEP <= fits <= 700
    assert estimate_bytes(cat.shape, wave.shape, settings.replaced(size=fits)) <= available * FIT_MARGIN
    assert largest_fitting_size(cat.shape, wave.shape, settings, available=10 * MB) is None


def test_check_memory_warns_with_the_size_that_fits(cat, wave):
    settings = RenderSettings(size=4096)
    check = check_memory(cat.shape, wave.shape, settings, torch.device("cpu"), available=1024 * MB)
    assert not check.enough and check.fits is not None and check.fits < 4096
    warning = check.warning()
    assert "4096 px needs about" in warning and "1.0 GB is available" in warning
    assert f"{check.fits} px would fit" in warning
    roomy = check_memory(cat.shape, wave.shape, settings.replaced(size=64), torch.device("cpu"), available=1024 * MB)
    assert roomy.enough and roomy.warning() is None


def test_available_memory_from_meminfo_and_a_cgroup_limit(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24684544 kB\nMemFree:  100 kB\nMemAvailable:    1048576 kB\n")
    assert system_available_bytes(meminfo, cgroup=tmp_path / "none") == 1024 * MB
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text(f"{768 * MB}\n")
    (cgroup / "memory.current").write_text(f"{512 * MB}\n")
    assert system_available_bytes(meminfo, cgroup) == 256 * MB


@pytest.mark.parametrize("exc, expected", [
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
    (MemoryError(), True),
    (RuntimeError(CPU_ALLOCATOR_FAILURE), True),
    (RuntimeError("MPS backend out of memory"), True),
    (RuntimeError("The size of tensor a (3) must match the size of tensor b (4)"), False),
    (ValueError("out of range"), False),
])
def test_what_counts_as_out_of_memory(exc, expected):
    assert is_out_of_memory(exc) is expected


def _fail_network_calls(monkeypatch, network, when) -> None:
    """Make the network's forward pass raise the CPU allocator's error when `when(image)` says so."""
    real = network.forward

    def forward(rgb, layers):
        if when(rgb):
            raise RuntimeError(CPU_ALLOCATOR_FAILURE)
        return real(rgb, layers)

    monkeypatch.setattr(network, "forward", forward)


def test_out_of_memory_mid_run_keeps_the_last_good_picture(cat, wave, small, backend, monkeypatch):
    run = StyleRun(cat, wave, small.replaced(iterations=10), backend)
    frames = [run.step() for _ in range(3)]
    _fail_network_calls(monkeypatch, backend.network, lambda rgb: True)
    with pytest.raises(OutOfMemory) as info:
        run.step()
    error = info.value
    assert error.size == 64 and error.fits is not None and error.fits < 64
    assert str(error).startswith("cpu: ran out of memory on the CPU rendering at 64 px")
    assert f"{error.fits} px should fit" in str(error) and "\n" not in str(error)
    assert run.done and run.index == 3
    assert np.array_equal(run.result(), frames[-1].image())  # the picture is not lost
    with pytest.raises(RuntimeError, match="has failed"):
        run.step()


def test_out_of_memory_entering_a_larger_scale_keeps_the_smaller_picture(cat, wave, small, backend, monkeypatch):
    run = StyleRun(cat, wave, small.replaced(size=256, iterations=4), backend)
    assert [side for side, _ in run.schedule] == [128, 256]
    frames = [run.step() for _ in range(2)]
    _fail_network_calls(monkeypatch, backend.network, lambda rgb: max(rgb.shape[2:]) > 128)
    with pytest.raises(OutOfMemory) as info:
        run.step()
    assert info.value.size == 256 and info.value.fits is not None and info.value.fits < 256
    assert run.result().shape == frames[-1].image().shape == (85, 128, 3)
    assert np.array_equal(run.result(), frames[-1].image())


def test_out_of_memory_while_preparing_says_so(cat, wave, small, backend, monkeypatch):
    _fail_network_calls(monkeypatch, backend.network, lambda rgb: True)
    with pytest.raises(OutOfMemory, match="ran out of memory on the CPU rendering at 64 px"):
        StyleRun(cat, wave, small, backend)


def test_command_line_warns_when_a_run_will_not_fit(cat_path, wave_path, tmp_path, backend, monkeypatch, capsys):
    import cli
    import engine.memory
    from engine.run import Backend

    monkeypatch.setattr(Backend, "create", classmethod(lambda cls, settings: backend))
    monkeypatch.setattr(engine.memory, "available_bytes", lambda device: 200 * MB)
    out = tmp_path / "o.png"
    # (--tile 768, one pass: the warning is the same, and the run that goes on after it is not in 64 px tiles,
    # which would spend minutes on their borders)
    assert cli.main(["render", str(cat_path), str(wave_path), "-o", str(out), "--size", "768", "--iterations", "1",
                     "--device", "cpu", "-q", "--tile", "768"]) == 0
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "768 px needs about" in warning[0] and "would fit (--size " in warning[0], err
    assert out.exists()


def test_a_run_that_does_not_fit_in_one_pass_is_tiled(cat_path, wave_path, cat, wave, tmp_path, backend, monkeypatch,
                                                      capsys):
    import cli
    import engine.memory
    from engine.run import Backend

    settings = RenderSettings(size=448, iterations=1, multiscale=False, device="cpu", precision="fp32")
    one_pass = estimate_bytes(cat.shape, wave.shape, settings)
    in_tiles = estimate_bytes(cat.shape, wave.shape, settings, tile=128)
    assert in_tiles < one_pass
    available = round((one_pass + in_tiles) / 2 / FIT_MARGIN)
    check = check_memory(cat.shape, wave.shape, settings, torch.device("cpu"), available=available)
    assert check.enough and check.tile is not None and 128 <= check.tile < 448
    monkeypatch.setattr(Backend, "create", classmethod(lambda cls, settings: backend))
    monkeypatch.setattr(engine.memory, "available_bytes", lambda device: available)
    out = tmp_path / "o.png"
    assert cli.main(["render", str(cat_path), str(wave_path), "-o", str(out), "--size", "448", "--iterations", "1",
                     "--single-scale", "--device", "cpu", "--precision", "fp32"]) == 0
    err = capsys.readouterr().err
    assert "warning:" not in err
    assert f"note: 448 px does not fit in memory in one pass: it is computed in tiles of {check.tile} px" in err
    assert f"tiles of at most {check.tile} px" in err
    assert out.exists()


REAL_OOM_SCRIPT = """
import resource, sys
from pathlib import Path
import cli
from engine.run import Backend
from engine.settings import RenderSettings

Backend.create(RenderSettings(device="cpu", precision="fp32"))  # loading the weights peaks: do it once first
size = next(int(l.split()[1]) * 1024 for l in Path("/proc/self/status").read_text().splitlines()
            if l.startswith("VmSize:"))
room = int(sys.argv[1]) * 1024**2
resource.setrlimit(resource.RLIMIT_AS, (size + room, resource.RLIM_INFINITY))
sys.exit(cli.main(sys.argv[2:]))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and RLIMIT_AS")
def test_a_real_allocation_failure_in_the_command_line_keeps_the_picture(cat_path, wave_path, tmp_path):
    """Under an address-space limit 1 GB above what the process holds, a 1024 px run (about 2.6 GB) in one pass
    (--tile 1024: one tile; left to itself the run would be tiled to fit) really runs out: the CPU allocator fails,
    the run ends with one line that suggests a size, and the last good picture is written."""
    out = tmp_path / "out.png"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(REAL_OOM_SCRIPT), "1024", "render", str(cat_path), str(wave_path),
         "-o", str(out), "--size", "1024", "--iterations", "4", "--device", "cpu", "--precision", "fp32",
         "--tile", "1024"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("warning: 1024 px needs about") for line in lines), result.stderr
    assert lines[-1].startswith("error: cpu: ran out of memory on the CPU rendering at "), lines[-1]
    assert "px should fit" in lines[-1] and f"is saved to {out}" in lines[-1]
    from engine.images import load_image

    picture = load_image(out)
    assert max(picture.shape[:2]) in (256, 512, 1024) and picture.std() > 5  # a picture, not black or flat
