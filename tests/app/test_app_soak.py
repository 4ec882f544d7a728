"""A short version of bench/bench_soak.py: a hundred-odd iterations keep resident memory flat, and ten start/stop
and five close-during-run cycles in a row leave no thread, no memory growth beyond noise, no error, and (with
recovery copies written every iteration) one copy for the stopped picture, or none once the window is closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_soak import close_during_run_cycles, long_run, start_stop_cycles, window_factory

MB = 1024**2
NOISE = 40 * MB  # allocator and Qt caches; a leak of a run's tensors or images per cycle would exceed it


@pytest.fixture
def make(backend, tmp_path: Path, cat, wave):
    return window_factory(backend, tmp_path, size=64, iterations=100_000, recovery_interval_s=0.0,
                          pair=(cat, wave))


def test_a_long_run_keeps_memory_flat(cat, wave, backend):
    figures = long_run(cat, wave, backend, size=64, iterations=120, warmup=20, every=20)
    assert figures.iterations == 120 and len(figures.samples) == 6
    assert abs(figures.growth) < 20 * MB, figures.report()


def test_start_stop_cycles_leave_nothing_behind(qapp, qtbot, make, tmp_path):
    window = make()
    qtbot.addWidget(window)
    window.show()
    figures = start_stop_cycles(qapp, window, cycles=10, timeout_s=60)
    assert figures.errors == [], figures.report()
    assert figures.qthreads_running == 0 and figures.threads_after <= figures.threads_before, figures.report()
    assert figures.rss_growth < NOISE, figures.report()
    copies = list((tmp_path / "recovery").iterdir())
    assert len(copies) == 1, copies  # the stopped picture's copy; each new run replaced the one before
    window.close()
    assert list((tmp_path / "recovery").iterdir()) == []


def test_close_during_run_cycles_leave_nothing_behind(qapp, make, tmp_path):
    figures = close_during_run_cycles(qapp, make, cycles=5, timeout_s=60)
    assert figures.errors == [], figures.report()
    assert figures.qthreads_running == 0 and figures.threads_after <= figures.threads_before, figures.report()
    assert figures.rss_growth < NOISE, figures.report()
    assert list((tmp_path / "recovery").iterdir()) == []  # each window cleaned up as it closed
