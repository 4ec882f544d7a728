"""Tiling benchmark: what exact tiles cost in time and what they save in memory. Prints figures; asserts nothing
(tests/test_tiling.py checks that tiles give the untiled result).

Each configuration runs in a fresh process (so its peak resident memory is its own): a single-scale L-BFGS run of
`--iterations` at SIZE px, untiled or in tiles of TILE px, on a photo and a painting from ../shared/images (or the
test pictures). It prints the seconds per iteration after one warm-up iteration, the tile count, the network's
work per picture pixel (engine.tiles.work_factor), and the peak resident memory of the whole process (torch and
the network included) next to engine/memory.py's estimate for it.

    python bench/bench_tiling.py                                 # overhead at 1024 px, memory at 2048 px
    python bench/bench_tiling.py --runs 1024:0 1024:512 2048:512 4096:512 --iterations 3
    python bench/bench_tiling.py --one 2048 512 3                # one configuration, in this process

TILE 0 means untiled. Compare speeds only as ratios measured in one invocation: CPUs differ from machine to
machine, and one machine's speed drifts with what else it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

MB = 1024**2
IMAGES = ROOT.parent / "shared" / "images"
FALLBACK = ROOT / "tests" / "data"
DEFAULT_RUNS = ("1024:0", "1024:512", "1024:256", "2048:512")


def _picture(names: tuple[str, ...]) -> np.ndarray:
    from engine.images import load_image

    for folder in (IMAGES, FALLBACK):
        for name in names:
            for path in sorted(folder.glob(f"{name}*")):
                return load_image(path)
    raise SystemExit(f"no picture named {names} in {IMAGES} or {FALLBACK}")


def peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def one(size: int, tile: int, iterations: int, precision: str) -> dict[str, float]:
    """Run one configuration in this process and return its figures."""
    import torch

    from engine.memory import estimate_bytes
    from engine.run import StyleRun
    from engine.settings import RenderSettings
    from engine.tiles import work_factor

    content, style = _picture(("astronaut", "cat")), _picture(("great_wave", "wave", "starry"))
    settings = RenderSettings(size=size, iterations=iterations + 1, multiscale=False, device="cpu",
                              precision=precision, seed=0)
    started = time.perf_counter()
    run = StyleRun(content, style, settings, tile=tile or None)
    prepared = time.perf_counter() - started
    run.step()  # warm-up: first allocations, oneDNN's choice of kernels
    started = time.perf_counter()
    for _ in range(iterations):
        run.step()
    per_iteration = (time.perf_counter() - started) / iterations
    height, width = run.image.shape[-2:]
    estimate = estimate_bytes(content.shape, style.shape, settings, run.backend.precision.dtype.itemsize,
                              tile=tile or None)
    return {"size": size, "tile": tile, "width": width, "height": height, "tiles": len(run.tiles),
            "work": work_factor(height, width, tile or None), "seconds": per_iteration, "prepare": prepared,
            "peak_mb": peak_rss() / MB, "estimate_mb": estimate / MB, "threads": torch.get_num_threads(),
            "precision": run.backend.precision.name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=list(DEFAULT_RUNS), metavar="SIZE:TILE")
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations per run (after one warm-up)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"))
    parser.add_argument("--one", nargs=3, type=int, metavar=("SIZE", "TILE", "ITERATIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one, precision=args.precision)))
        return
    results = []
    for spec in args.runs:
        size, tile = (int(part) for part in spec.split(":"))
        done = subprocess.run([sys.executable, __file__, "--one", str(size), str(tile), str(args.iterations),
                               "--precision", args.precision], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        if done.returncode != 0:
            print(f"{spec}: failed\n{done.stderr[-2000:]}")
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{r['width']}x{r['height']} tile {r['tile'] or '-':>4}: {r['tiles']:3d} tiles, work x{r['work']:.2f}, "
              f"{r['seconds']:7.2f} s/it ({r['precision']}, {r['threads']} threads; prepared in "
              f"{r['prepare']:.1f} s), peak {r['peak_mb']:6.0f} MB (estimate {r['estimate_mb']:6.0f} MB)",
              flush=True)
    untiled = {r["size"]: r["seconds"] for r in results if not r["tile"]}
    for r in results:
        if r["tile"] and r["size"] in untiled:
            print(f"{r['size']} px in {r['tile']} px tiles costs {r['seconds'] / untiled[r['size']]:.2f}x "
                  "an untiled iteration")


if __name__ == "__main__":
    main()
