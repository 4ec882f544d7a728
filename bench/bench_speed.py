"""Speed and memory of Fude's engine against the plain fp32 textbook loop (bench/reference.py), in one run on
this machine; prints tables, times nothing in the test suite.

1. Per iteration, at each --sizes: the engine's step (its measured precision), a bare forward+backward of its
   truncated network at the same precision, and the reference's step; their ratios.
2. Time to a finished picture at --quality-size, on four pairs (a cartoon, an animal, a portrait, a landscape):
   the textbook runs --reference-iterations fp32 L-BFGS steps on the full network; the engine runs what a user
   gets with no options (`render --size N`: each scale until its picture settles), in fp32 and in the precision
   it measures best here (one run when that is fp32); with --before REVISION also the defaults of that revision's
   engine; and a long run of --long-run iterations, the end the defaults must come close to. Every picture is
   judged by one ruler (the objective in fp32 on the full network: style strength), its likeness to the content
   (bench/judge.py) and its fine detail, and saved at 100% in --out with a strip of 100% crops side by side.
3. Peak resident memory (VmHWM) of a default engine run at each --memory-sizes (512 and 1024), in a fresh process.

    python bench/bench_speed.py [--skip iteration memory] [--pairs CONTENT:STYLE ...] [--out bench/out]
                                [--before HEAD~1] [--long-run 600] [--quality-size 1024]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.judge import busiest_corner, crops_side_by_side, likeness  # noqa: E402
from bench.reference import ReferenceRun, Ruler, full_network  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.losses import LossWeights, StyleObjective  # noqa: E402
from engine.run import Backend, StyleRun  # noqa: E402
from engine.schedule import most_iterations  # noqa: E402
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


def _median_chunk_seconds(times: list[float], chunk: int = 10) -> float:
    """Seconds per iteration from cumulative `times`: the median of `chunk`-iteration spans, so that a burst of
    other load on the machine does not decide a figure."""
    spans = [(times[k + chunk] - times[k]) / chunk for k in range(0, len(times) - chunk, chunk)]
    if not spans:
        return (times[-1] - times[0]) / max(1, len(times) - 1) if len(times) > 1 else times[-1]
    return statistics.median(spans)


def _pair_name(content: str, style: str) -> str:
    return f"{Path(content).stem}+{Path(style).stem}"


@dataclass
class Finished:
    """One finished picture of a pair and how it was made."""

    label: str
    seconds: float  # medians of 10-iteration spans times the iterations, preparation included
    image: torch.Tensor  # 1 x 3 x H x W in [0, 1]
    counts: list[int] | None = None  # iterations per scale (None: the textbook's single scale)
    settled: bool | None = None
    judged: dict[str, float] = field(default_factory=dict)  # style, total (the ruler), likeness, fine detail


def _fude(content: np.ndarray, style: np.ndarray, settings: RenderSettings, backend: Backend, label: str) -> Finished:
    """A Fude run of `settings` to its end, timed as the textbook is (its preparation counted)."""
    _sync(backend.device)
    t0 = time.perf_counter()
    run = StyleRun(content, style, settings, backend)
    prepare_s = time.perf_counter() - t0
    stamps: dict[int, list[float]] = {}
    last = 0.0
    for frame in run:
        _sync(backend.device)
        stamps.setdefault(frame.scale, [last]).append(frame.elapsed)  # each scale's times from its start
        last = frame.elapsed
    counts = run.scale_iterations
    seconds = prepare_s + sum(_median_chunk_seconds(stamps[scale]) * count
                              for scale, count in enumerate(counts, 1) if count)
    return Finished(label, seconds, run.image.detach().float(), counts, run.settled)


BEFORE_SCRIPT = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from engine.images import load_image
from engine.run import Backend, StyleRun
from engine.settings import RenderSettings
settings = RenderSettings(size=int(sys.argv[4]), device=sys.argv[5], precision='fp32')
backend = Backend.create(settings)
content, style = load_image(sys.argv[2]), load_image(sys.argv[3])
t0 = time.perf_counter()
run = StyleRun(content, style, settings, backend)
prepare = time.perf_counter() - t0
stamps, last = {}, 0.0
for frame in run:
    stamps.setdefault(frame.scale, [last]).append(frame.elapsed)
    last = frame.elapsed
np.save(sys.argv[6], run.image.detach().float().cpu().numpy())
print(json.dumps({"prepare": prepare, "stamps": stamps, "counts": run.scale_iterations, "settled": run.settled}))
"""


def _fude_before(revision: str, content: str, style: str, size: int, device: torch.device, work: Path) -> Finished:
    """Fude's defaults in fp32 as `revision` of this repository made them, in a fresh process on its own engine."""
    tree = work / f"before-{revision}"
    if not tree.exists():
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "engine"], capture_output=True,
                                 check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
    picture = work / "before.npy"
    result = subprocess.run([sys.executable, "-c", BEFORE_SCRIPT, str(tree), content, style, str(size), device.type,
                             str(picture)], capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    seconds = report["prepare"] + sum(_median_chunk_seconds(report["stamps"][str(scale)]) * count
                                      for scale, count in enumerate(report["counts"], 1) if count)
    image = torch.from_numpy(np.load(picture)).to(device)
    return Finished(f"Fude {revision}", seconds, image, report["counts"], report["settled"])


def time_to_finished(pairs: list[tuple[str, str]], backend: Backend, size: int, reference_iterations: int,
                     reference_net, out: Path, long_run: int, before: str | None) -> None:
    """For each pair, at `size` px and the same lam and style weights (one objective, so equal style strength is
    one ruler's reading): the textbook (fp32 L-BFGS on the full network at full size, `reference_iterations`
    from noise), Fude's defaults (`render --size N`: coarse to fine, each scale until its picture settles) in
    fp32 and in the precision measured best here, Fude as `before` (a git revision) made them, and Fude run
    `long_run` iterations (the end the defaults must come close to). Each picture is judged by the ruler's style
    loss, its likeness to the content (bench.judge) and its fine detail; all are saved at 100% in `out`, with
    a strip of 100% crops side by side."""
    device = backend.device
    settings = RenderSettings(size=size, device=device.type)  # what `render --size N` runs
    fp32 = backend if backend.precision.name == "fp32" else Backend.create(settings.replaced(precision="fp32"))
    print(f"\n2. time to a finished {size} px picture: textbook {reference_iterations} fp32 L-BFGS iterations "
          f"against Fude's defaults (each scale until settled, at most {most_iterations(settings)}); lam "
          f"{settings.lam:g}; seconds are medians of 10-iteration spans times the iterations. The automatic "
          f"precision here is {backend.precision.name}" + (": the fp32 run is it." if fp32 is backend else "."))
    out.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    from engine.images import fit_size, resize
    from engine.run import to_tensor, to_uint8
    from engine.settling import fine_detail

    table = []
    for content_path, style_path in pairs:
        name = _pair_name(content_path, style_path)
        content, style = load_image(content_path), load_image(style_path)
        width, height = fit_size(content.shape[1], content.shape[0], size)
        content_t = to_tensor(resize(content, width, height), device)
        style_side = round(size * settings.style_scale)
        style_t = to_tensor(resize(style, *fit_size(style.shape[1], style.shape[0], style_side)), device)
        ruler = Ruler(reference_net, content_t, style_t, LossWeights(lam=settings.lam, tv=settings.tv_weight))

        # The textbook, from the seed's noise at full size (what Fude's single-scale run starts from).
        noise = StyleRun(content, style, settings.replaced(multiscale=False, iterations=1), backend).image
        reference = ReferenceRun(ruler, noise)
        times = [0.0]
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(reference_iterations):
            reference.step()
            _sync(device)
            times.append(time.perf_counter() - t0)
        results = [Finished("textbook", _median_chunk_seconds(times) * reference_iterations,
                            reference.image.detach())]
        if before:
            results.append(_fude_before(before, content_path, style_path, size, device, out))
        results.append(_fude(content, style, settings.replaced(precision="fp32"), fp32, "Fude fp32"))
        if fp32 is not backend:
            results.append(_fude(content, style, settings, backend, f"Fude {backend.precision.name}"))
        if long_run:
            results.append(_fude(content, style, settings.replaced(iterations=long_run), backend,
                                 f"long run {long_run}"))
        for result in results:
            with torch.no_grad():
                ruled = ruler.losses(result.image.float())
            result.judged = {"style": float(ruled["style"]), "total": float(ruled["total"]),
                             "likeness": likeness(result.image, content_t), "detail": fine_detail(result.image)}
            print(f"   {name}: {result.label}: {result.seconds:.1f} s, iterations per scale "
                  f"{result.counts or [reference_iterations]}, style {result.judged['style']:.4f}, likeness "
                  f"{result.judged['likeness']:.3f}, fine detail {result.judged['detail']:.2f}", flush=True)
        pictures = [to_uint8(result.image[0]) for result in results]
        for result, picture in zip(results, pictures):
            Image.fromarray(picture).save(out / f"{name} {result.label}.png")
        corner = busiest_corner(pictures[0])
        Image.fromarray(crops_side_by_side(pictures, [r.label for r in results], corner)).save(
            out / f"{name} crops.png")
        table.append((name, results))

    textbook_s = {name: results[0].seconds for name, results in table}
    print(f"\n   {'pair':<26} {'picture':<16} {'seconds':>8} {'speed-up':>11} {'per scale':>16} "
          f"{'style':>7} {'likeness':>8} {'detail':>6}")
    for name, results in table:
        for result in results:
            print(f"   {name:<26} {result.label:<16} {result.seconds:>7.1f}s "
                  f"{textbook_s[name] / result.seconds:>10.1f}x {str(result.counts or '-'):>16} "
                  f"{result.judged['style']:>7.4f} {result.judged['likeness']:>8.3f} {result.judged['detail']:>6.2f}")
    print(f"   every picture at 100%, and 100% crops side by side: {out}/")


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


DEFAULT_PAIRS = [  # a flat cartoon creature, an animal photo, a portrait, a landscape
    (str(ROOT / "bench" / "pictures" / "frog.png"), str(IMAGES / "wave.jpg")),
    (str(IMAGES / "chelsea.png"), str(IMAGES / "starry_night.jpg")),
    (str(IMAGES / "astronaut.png"), str(IMAGES / "the_scream.jpg")),
    (str(ROOT / "bench" / "pictures" / "evening_glow.jpg"), str(IMAGES / "shipwreck.jpg")),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=5, help="timed iterations per per-iteration figure")
    parser.add_argument("--quality-size", type=int, default=512)
    parser.add_argument("--reference-iterations", type=int, default=300)
    parser.add_argument("--pairs", nargs="+", metavar="CONTENT:STYLE", default=None,
                        help="the pairs of section 2 (default: a cartoon frog + the Great Wave, a cat + Starry Night, "
                        "a portrait + the Scream, a landscape + Turner's shipwreck)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"), help="where section 2 saves its pictures")
    parser.add_argument("--long-run", type=int, default=600, metavar="N",
                        help="section 2 also runs Fude N iterations, the end its defaults must come close to (0: not)")
    parser.add_argument("--before", metavar="REVISION", default=None,
                        help="section 2 also runs the defaults of this git revision's engine (fp32), e.g. HEAD~1")
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
        pairs = [tuple(pair.split(":", 1)) for pair in args.pairs] if args.pairs else DEFAULT_PAIRS
        pairs = [(c, s) for c, s in pairs if Path(c).exists() and Path(s).exists()] or [
            (str(FALLBACK / "cat.png"), str(FALLBACK / "wave.png"))]
        time_to_finished(pairs, backend, args.quality_size, args.reference_iterations, reference_net,
                         Path(args.out), args.long_run, args.before)
    if "memory" not in args.skip:
        for size in args.memory_sizes:
            peak_memory(size, args.content, args.style)
    return 0


if __name__ == "__main__":
    sys.exit(main())
