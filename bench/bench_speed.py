"""Speed and memory of Fude's engine against the plain fp32 textbook loop (bench/reference.py), in one run on
this machine; prints tables, times nothing in the test suite.

1. Per iteration, at each --sizes: the engine's step (its measured precision), a bare forward+backward of its
   truncated network at the same precision, and the reference's step; their ratios.
2. Time to quality at --quality-size: the reference runs --reference-iterations L-BFGS steps; the engine runs
   what a user gets with no options (`render --size N`). Both results are judged by one ruler: the objective in
   fp32 on the full network at full size. Also when the engine first matched the reference's final value, going
   on at full size past its default end (up to --match-limit more iterations) when it had not.
3. Peak resident memory (VmHWM) of a default engine run at each --memory-sizes (512 and 1024), in a fresh process.

    python bench/bench_speed.py [--sizes 256 512] [--quality-size 512] [--reference-iterations 300]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.reference import ReferenceRun, Ruler, full_network  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.losses import LossWeights, StyleObjective  # noqa: E402
from engine.run import Backend, StyleRun  # noqa: E402
from engine.settings import RenderSettings  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
FALLBACK = ROOT / "tests" / "data"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def seconds_per_call(call, device: torch.device, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        call()
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    _sync(device)
    return (time.perf_counter() - start) / repeats


def per_iteration(content, style, backend: Backend, sizes: list[int], repeats: int, reference_net) -> None:
    device = backend.device
    print(f"\n1. seconds per iteration ({device.type}, engine precision {backend.precision.name})")
    print(f"{'size':>9} {'engine step':>12} {'bare fwd+bwd':>13} {'step/bare':>10} {'reference':>10} "
          f"{'reference/engine':>17}")
    for size in sizes:
        settings = RenderSettings(size=size, device=device.type, iterations=10**6, multiscale=False)
        run = StyleRun(content, style, settings, backend)
        engine_s = seconds_per_call(run.step, device, repeats, warmup=2)
        image = run.image.detach().clone().requires_grad_(True)
        layers = StyleObjective.layers_used()

        def bare(image: torch.Tensor = image, layers: tuple[str, ...] = layers) -> None:
            image.grad = None
            features = backend.network(image, layers)
            sum(f.float().sum() for f in features.values()).backward()

        bare_s = seconds_per_call(bare, device, repeats, warmup=1)
        ruler = Ruler(reference_net, run.content, run.style, run.weights)
        reference = ReferenceRun(ruler, run.image)
        reference_s = seconds_per_call(reference.step, device, repeats, warmup=2)
        w, h = run.size
        print(f"{f'{w}x{h}':>9} {engine_s:>11.3f}s {bare_s:>12.3f}s {engine_s / bare_s:>9.2f}x {reference_s:>9.3f}s "
              f"{reference_s / engine_s:>16.2f}x", flush=True)


def time_to_quality(content, style, backend: Backend, size: int, reference_iterations: int,
                    reference_net, match_limit: int) -> None:
    device = backend.device
    settings = RenderSettings(size=size, device=device.type)  # what `render --size N` runs
    print(f"\n2. time to quality at {size} px: reference {reference_iterations} fp32 L-BFGS iterations vs the "
          f"engine's defaults ({settings.iteration_count} iterations, multiscale {settings.multiscale})")
    start = time.perf_counter()
    run = StyleRun(content, style, settings, backend)
    prepare_s = time.perf_counter() - start
    full_content, full_style = run._content_source, run._style_source  # the bench looks inside
    from engine.images import fit_size, resize
    from engine.run import to_tensor

    width, height = fit_size(full_content.shape[1], full_content.shape[0], size)
    content_t = to_tensor(resize(full_content, width, height), device)
    style_side = round(size * settings.style_scale)
    style_t = to_tensor(resize(full_style, *fit_size(full_style.shape[1], full_style.shape[0], style_side)), device)
    ruler = Ruler(reference_net, content_t, style_t, LossWeights(lam=settings.lam, tv=settings.tv_weight))

    # The reference, from the same start (the seed's noise at full size).
    noise_run = StyleRun(content, style, settings.replaced(multiscale=False, iterations=1), backend)
    reference = ReferenceRun(ruler, noise_run.image)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reference_iterations):
        reference.step()
    _sync(device)
    reference_s = time.perf_counter() - t0
    reference_value = ruler(reference.image.detach())
    print(f"   reference: {reference_s:8.1f} s, ruler {reference_value:.4f}", flush=True)

    # The engine, timed without the ruler checks (their time is subtracted).
    matched_at = None
    engine_s = prepare_s
    for frame in run:
        _sync(device)
        engine_s = prepare_s + frame.elapsed
        if matched_at is None and frame.scale == frame.scales and frame.index % 5 == 0:
            if ruler(run.image.detach()) <= reference_value:
                matched_at = (frame.index, engine_s)
    engine_value = ruler(run.image.detach())
    stopped = "ended early by the stopping rule" if getattr(run, "converged", False) else "ran every iteration"
    print(f"   engine:    {engine_s:8.1f} s, ruler {engine_value:.4f} "
          f"({reference_s / engine_s:.1f}x faster than the reference, finished picture: {run.index} iterations, "
          f"{stopped}; schedule {run.schedule})")
    if matched_at is None and match_limit > 0:
        # How long the engine takes to reach the reference's value when it goes on at full size past its default
        # stopping point: the time to quality at matched quality, which the finished picture alone cannot show.
        run.total = run.index + match_limit
        run._stop_when_converged = False  # the bench looks inside
        for frame in run:
            _sync(device)
            engine_s = prepare_s + frame.elapsed
            if frame.index % 5 == 0 and ruler(run.image.detach()) <= reference_value:
                matched_at = (frame.index, engine_s)
                break
    if matched_at:
        print(f"   engine matched the reference's ruler value at iteration {matched_at[0]}, {matched_at[1]:.1f} s "
              f"({reference_s / matched_at[1]:.1f}x faster)")
    else:
        print(f"   engine not matched within {match_limit} more full-size iterations: ruler "
              f"{ruler(run.image.detach()):.4f} at iteration {run.index}, {engine_s:.1f} s")


PEAK_RSS_MIB = (
    "def peak_rss_mib():\n"
    "    # VmHWM is this process's own peak; ru_maxrss would also count the parent's, inherited across exec\n"
    "    try:\n"
    "        for line in open('/proc/self/status'):\n"
    "            if line.startswith('VmHWM:'):\n"
    "                return int(line.split()[1]) / 1024\n"
    "    except OSError:\n"
    "        pass\n"
    "    import resource\n"
    "    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == 'darwin' "
    "else 1024)\n"
)


def peak_memory(size: int, content: str, style: str, iterations: int = 12) -> None:
    """Peak resident memory of a default run at `size` (a few iterations at every scale) in a fresh process."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{PEAK_RSS_MIB}"
            "from engine.images import load_image\nfrom engine.run import StyleRun\n"
            "from engine.settings import RenderSettings\n"
            f"run = StyleRun(load_image({content!r}), load_image({style!r}), RenderSettings(size={size}, "
            f"iterations={iterations}))\n"
            "[f.image() for f in run]\nprint(peak_rss_mib())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"\n3. peak memory at {size} px: the run failed: {result.stderr.strip().splitlines()[-1:]}")
        return
    print(f"\n3. peak resident memory of a {size} px run ({iterations} iterations, all scales): "
          f"{float(result.stdout.strip().splitlines()[-1]):.0f} MiB", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=5, help="timed iterations per per-iteration figure")
    parser.add_argument("--quality-size", type=int, default=512)
    parser.add_argument("--reference-iterations", type=int, default=300)
    parser.add_argument("--match-limit", type=int, default=300,
                        help="full-size iterations the engine may go on past its default to match the reference")
    parser.add_argument("--memory-sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--skip", nargs="*", default=[], choices=["iteration", "quality", "memory"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--content", default=str(IMAGES / "chelsea.png" if IMAGES.exists() else FALLBACK / "cat.png"))
    parser.add_argument("--style", default=str(IMAGES / "wave.jpg" if IMAGES.exists() else FALLBACK / "wave.png"))
    args = parser.parse_args()

    content, style = load_image(args.content), load_image(args.style)
    t0 = time.perf_counter()
    backend = Backend.create(RenderSettings(device=args.device))
    print(f"device {backend.device}, precision {backend.precision.name} (chosen by measurement in "
          f"{time.perf_counter() - t0:.1f} s), torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    reference_net = full_network().to(backend.device)
    if "iteration" not in args.skip:
        per_iteration(content, style, backend, args.sizes, args.repeats, reference_net)
    if "quality" not in args.skip:
        time_to_quality(content, style, backend, args.quality_size, args.reference_iterations, reference_net,
                        args.match_limit)
    if "memory" not in args.skip:
        for size in args.memory_sizes:
            peak_memory(size, args.content, args.style)
    return 0


if __name__ == "__main__":
    sys.exit(main())
