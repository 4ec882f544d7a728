"""Video benchmark: how steady `video` keeps a clip, what the steadiness costs in style, and what a later frame costs.
Prints figures; asserts nothing (tests/test_video.py and tests/test_flow.py check the behaviour).

The clip is synthetic so that its motion is known exactly: a pan across a photo (the background moves DX px a frame)
with a sprite (a disc cut from another picture) moving the other way over it, so that there is real occlusion and
disocclusion. It is written losslessly (FFV1 in Matroska) and rendered by engine.video.VideoRun exactly as
`main.py video` renders it, and then, with the same settings, frame by frame from noise ("one by one").

- E_warp (Lai et al. 2018, "Learning blind video temporal consistency"): the mean squared difference, in [0, 1]
  pixel units, between each stylised frame and the one before carried over by the *true* flow, over the pixels
  visible in both (not disoccluded, not entering the frame); video vs one by one, and their ratio.
- Style strength: each frame's style loss (engine.losses, against the painting at the frame's size), video vs one
  by one: the steadiness must not buy stillness by washing the style out.
- Colour drift on a still shot: a clip of one photo repeated; the largest change of a colour channel's mean between
  the first and the last frame, in levels of 255.
- Cost: seconds of the first frame and of each later one, and the iterations a later frame ran.
- A real clip (`--clip`, by default bench/clips/bunny.mp4: Big Buck Bunny climbing out of its burrow, CC BY 3.0):
  its true flow is unknown, so E_warp there is measured along Farneback's flow of its content frames (not the DIS
  flow the video follows, along which the temporal loss holds a frame by construction) over the pixels where it
  is consistent forward and backward: the same judge for video and one by one. With `--sheet`
  a strip of content, one-by-one and video frames is saved to look at, and the video itself next to it.

    python bench/bench_video.py                          # 512 px, 8 frames, steadiness as the default
    python bench/bench_video.py --size 256 --frames 6 --steadiness 0.25 1 4
    python bench/bench_video.py --size 64 --frames 3     # a smoke test
    python bench/bench_video.py --clip-only --clip-size 320 --clip-frames 12 --sheet docs/video_bunny.png

Compare times only within one invocation: CPUs differ, and one machine's speed drifts with what else it runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
FALLBACK = ROOT / "tests" / "data"


def _picture(names: tuple[str, ...]) -> np.ndarray:
    from engine.images import load_image

    for folder in (IMAGES, FALLBACK):
        for name in names:
            for path in sorted(folder.glob(f"{name}*")):
                return load_image(path)
    raise SystemExit(f"no picture named {names} in {IMAGES} or {FALLBACK}")


@dataclass(frozen=True)
class SyntheticClip:
    """Frames whose true backward flow and visibility are known: `flows[k]` goes from frame k to frame k - 1, and
    `visible[k]` is where frame k's pixel was visible in frame k - 1 (both None for the first frame)."""

    frames: list[np.ndarray]
    flows: list[np.ndarray | None]
    visible: list[np.ndarray | None]


def pan_with_sprite(width: int, height: int, count: int) -> SyntheticClip:
    """A pan across a photo, DX px a frame to the right, with a disc cut from another picture moving left over it."""
    from engine.images import fit_size, resize

    dx = max(1, round(width / 64))  # the background's shift per frame
    vx, vy = -2 * dx, max(1, dx // 2)  # the sprite's motion per frame
    photo = _picture(("chelsea", "cat"))
    canvas = resize(photo, *fit_size(photo.shape[1], photo.shape[0], max(width + dx * count, height * 2)))
    canvas = canvas[:height] if canvas.shape[0] >= height else resize(canvas, canvas.shape[1], height)
    radius = max(4, height // 5)
    sprite_picture = _picture(("astronaut",))
    sprite = resize(sprite_picture, 2 * radius, 2 * radius)
    ys, xs = np.mgrid[0:2 * radius, 0:2 * radius]
    disc = (xs - radius + 0.5) ** 2 + (ys - radius + 0.5) ** 2 <= radius**2
    x0, y0 = width * 2 // 3, height // 4
    frames, masks, flows, visible = [], [], [], []
    grid_y, grid_x = np.mgrid[0:height, 0:width]
    for k in range(count):
        frame = canvas[:, k * dx:k * dx + width].copy()
        mask = np.zeros((height, width), bool)
        top, left = y0 + k * vy, x0 + k * vx
        for y in range(2 * radius):
            row = top + y
            if not 0 <= row < height:
                continue
            cols = left + np.arange(2 * radius)
            inside = (cols >= 0) & (cols < width) & disc[y]
            frame[row, cols[inside]] = sprite[y, inside]
            mask[row, cols[inside]] = True
        frames.append(frame)
        masks.append(mask)
        if k == 0:
            flows.append(None)
            visible.append(None)
            continue
        flow = np.zeros((height, width, 2), np.float32)
        flow[..., 0] = np.where(mask, -vx, dx)
        flow[..., 1] = np.where(mask, -vy, 0)
        sx, sy = grid_x + flow[..., 0].astype(int), grid_y + flow[..., 1].astype(int)
        inside = (sx >= 0) & (sx < width) & (sy >= 0) & (sy < height)
        was_sprite = np.zeros_like(mask)
        was_sprite[inside] = masks[k - 1][sy[inside], sx[inside]]
        flows.append(flow)
        visible.append(inside & (was_sprite == mask))
    return SyntheticClip(frames, flows, visible)


def write_lossless(frames: list[np.ndarray], path: Path, fps: int = 10) -> None:
    """The frames as a lossless clip (FFV1 in Matroska), so the only change in decoding is none."""
    from engine.export import ffmpeg_executable

    height, width = frames[0].shape[:2]
    command = [ffmpeg_executable(path), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
               "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(fps), "-i", "pipe:0",
               "-c:v", "ffv1", "-pix_fmt", "bgr0", str(path)]
    subprocess.run(command, input=b"".join(np.ascontiguousarray(f).tobytes() for f in frames), check=True)


def warping_error(stylised: list[np.ndarray], clip: SyntheticClip) -> float:
    """Lai et al.'s E_warp over the clip: the mean over frames of the mean squared difference (0..1 units) between
    a frame and the one before carried by the true flow, over the pixels visible in both."""
    errors = []
    for k in range(1, len(stylised)):
        flow, visible = clip.flows[k], clip.visible[k]
        assert flow is not None and visible is not None
        height, width = visible.shape
        gy, gx = np.mgrid[0:height, 0:width]
        sx = np.clip(gx + flow[..., 0].astype(int), 0, width - 1)
        sy = np.clip(gy + flow[..., 1].astype(int), 0, height - 1)
        carried = stylised[k - 1][sy, sx].astype(np.float64) / 255
        difference = ((stylised[k].astype(np.float64) / 255 - carried) ** 2).sum(axis=2)
        errors.append(float((difference * visible).sum() / max(1, visible.sum() * 3)))
    return float(np.mean(errors))


def style_losses(backend, images: list[np.ndarray], contents: list[np.ndarray], style: np.ndarray,
                 settings) -> list[float]:
    """Each picture's style loss against `style` seen at the picture's size (as its run saw it)."""
    import torch

    from engine.images import fit_size, resize
    from engine.losses import LossWeights, StyleObjective
    from engine.run import to_tensor

    layers = StyleObjective.layers_used()
    network, device = backend.network, backend.device
    found = []
    with torch.no_grad():
        for image, content in zip(images, contents):
            side = round(max(image.shape[:2]) * settings.style_scale)
            painting = to_tensor(resize(style, *fit_size(style.shape[1], style.shape[0], side)), device)
            objective = StyleObjective.from_features(network(to_tensor(content, device), layers),
                                                     network(painting, layers))
            picture = to_tensor(image, device)
            losses = objective(network(picture, layers), picture, LossWeights(settings.lam, settings.tv_weight))
            found.append(float(losses["style"]))
    return found


@dataclass
class Timings:
    first: list[float] = field(default_factory=list)
    later: list[float] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    reliable: list[float] = field(default_factory=list)


def render_video(clip_path: Path, out: Path, style: np.ndarray, settings, steadiness: float,
                 backends, duration: float | None = None) -> tuple[list[np.ndarray], Timings]:
    """The clip rendered as `main.py video` renders it; its frames as the runs made them, and their times."""
    from engine.clip_folder import ClipFolder
    from engine.video import VideoJob, VideoRun
    from engine.video_settings import VideoSettings

    timings = Timings()
    job = VideoJob(clip_path, (style,), ("style",), settings, out,
                   VideoSettings(steadiness=steadiness, duration=duration))
    outcome = VideoRun(job, backends, _timing_listener(timings)).run()
    folder = ClipFolder(out)
    return [folder.read_frame(k) for k in range(1, outcome.frames + 1)], timings


def judge_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The flow from `first` to `second` by Farneback's method: a judge independent of the DIS flow the video
    itself follows (along its own flow the temporal loss holds a frame by construction)."""
    import cv2

    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in (first, second)]
    return cv2.calcOpticalFlowFarneback(grey[0], grey[1], None, 0.5, 3, 9, 3, 5, 1.1, 0).astype(np.float32)


def flow_warping_error(stylised: list[np.ndarray], contents: list[np.ndarray]) -> float:
    """E_warp along Farneback's flow of the content frames, over the pixels where it is consistent forward and
    backward (engine.flow's check): for a real clip, whose true flow is unknown."""
    from engine.flow import reliability, warp

    errors = []
    for k in range(1, len(stylised)):
        backward = judge_flow(contents[k], contents[k - 1])
        forward = judge_flow(contents[k - 1], contents[k])
        trusted = reliability(backward, forward) > 0.5
        carried = warp(stylised[k - 1], backward).astype(np.float64) / 255
        difference = ((stylised[k].astype(np.float64) / 255 - carried) ** 2).sum(axis=2)
        errors.append(float((difference * trusted).sum() / max(1, trusted.sum() * 3)))
    return float(np.mean(errors))


def decode(clip_path: Path, size: int, count: int) -> list[np.ndarray]:
    """The first `count` frames of a clip at the size a render of `size` px decodes them."""
    from engine.images import fit_size
    from engine.video_io import FrameReader, even_size, probe

    info = probe(clip_path)
    reader = FrameReader(info, even_size(*fit_size(info.width, info.height, size)), info.fps)
    frames = []
    try:
        for frame in reader:
            frames.append(frame)
            if len(frames) == count:
                break
    finally:
        reader.close()
    return frames


def real_clip(args: argparse.Namespace, style: np.ndarray, settings, backends) -> None:
    """The real clip: video vs one by one, judged along the content's own flow; a strip to look at."""
    from engine.video_settings import DEFAULT_STEADINESS

    settings = settings.replaced(size=args.clip_size)
    backend = backends.get(settings)
    contents = decode(args.clip, args.clip_size, args.clip_frames)
    height, width = contents[0].shape[:2]
    from engine.video_io import probe

    duration = len(contents) / float(probe(args.clip).fps)  # the part of the clip those frames are
    print(f"real clip {args.clip.name}: {width}x{height} px, {len(contents)} frames", flush=True)
    with tempfile.TemporaryDirectory(prefix="fude-bench-clip-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        alone = render_one_by_one(contents, style, settings, backend)
        alone_seconds = (time.perf_counter() - started) / len(alone)
        alone_warp = flow_warping_error(alone, contents)
        alone_style = float(np.mean(style_losses(backend, alone, contents, style, settings)))
        print(f"  one by one: E_warp {alone_warp:.5f}, style loss {alone_style:.4f}, {alone_seconds:.1f} s/frame",
              flush=True)
        out = args.sheet.with_suffix(".mp4") if args.sheet else work / "clip.mp4"
        frames, timings = render_video(args.clip, out, style, settings, DEFAULT_STEADINESS, backends, duration)
        warp = flow_warping_error(frames, contents[:len(frames)])
        strength = float(np.mean(style_losses(backend, frames, contents[:len(frames)], style, settings)))
        print("  " + _video_line(DEFAULT_STEADINESS, warp, alone_warp, strength, alone_style, timings), flush=True)
        if args.sheet:
            from PIL import Image

            picks = sorted({0, len(frames) // 3, 2 * len(frames) // 3, len(frames) - 1})
            rows = [np.concatenate([seq[k] for k in picks], axis=1) for seq in (contents, alone, frames)]
            Image.fromarray(np.concatenate(rows, axis=0)).save(args.sheet)
            print(f"  strip (rows: clip, one by one, video; frames {[k + 1 for k in picks]}): {args.sheet}; "
                  f"the video: {out}", flush=True)


def _video_line(steadiness: float, warp: float, alone_warp: float, strength: float, alone_style: float,
                timings: Timings) -> str:
    """One video render's figures against the same frames one by one."""
    first = np.mean(timings.first) if timings.first else float("nan")
    later = np.mean(timings.later) if timings.later else float("nan")
    return (f"video, steadiness {steadiness:g}: E_warp {warp:.5f} ({warp / alone_warp:.2f}x one by one), "
            f"style loss {strength:.4f} ({strength / alone_style:.2f}x), first frame {first:.1f} s, later "
            f"{later:.1f} s ({later / first:.2f}x) in {np.mean(timings.iterations or [0]):.0f} iterations, "
            f"reliable {np.mean(timings.reliable or [0]):.2f}, {len(timings.first) - 1} scene cuts")


def _timing_listener(timings: Timings):
    from engine.video import ClipListener, ClipProgress

    class Listener(ClipListener):
        def on_frame_done(self, progress: ClipProgress, image: np.ndarray) -> None:
            (timings.first if progress.fresh else timings.later).append(progress.seconds)
            if not progress.fresh:
                timings.iterations.append(progress.iterations)
            if progress.reliable_share is not None:
                timings.reliable.append(progress.reliable_share)

    return Listener()


def render_one_by_one(frames: list[np.ndarray], style: np.ndarray, settings, backend) -> list[np.ndarray]:
    from engine.run import StyleRun

    results = []
    for frame in frames:
        run = StyleRun(frame, style, settings.replaced(size=max(frame.shape[:2])), backend)
        for _ in run:
            pass
        results.append(run.result())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="the frames' longest side")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--still-frames", type=int, default=None, help="frames of the still shot (default: --frames)")
    parser.add_argument("--steadiness", type=float, nargs="+", default=None,
                        help="steadiness values to compare (default: the default)")
    parser.add_argument("--iterations", type=int, default=None, help="exact iterations a frame (default: settle)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--style", default="wave", help="the painting (a name in ../shared/images or tests/data)")
    parser.add_argument("--clip", type=Path, default=ROOT / "bench" / "clips" / "bunny.mp4",
                        help="the real clip (default: bench/clips/bunny.mp4)")
    parser.add_argument("--clip-size", type=int, default=320, help="the real clip's longest side (default: its own)")
    parser.add_argument("--clip-frames", type=int, default=12, help="frames of the real clip rendered")
    parser.add_argument("--clip-only", action="store_true", help="only the real clip")
    parser.add_argument("--no-clip", action="store_true", help="only the synthetic clips")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="save a strip of the real clip's frames here (and the video beside it, .mp4)")
    args = parser.parse_args()

    from engine.driver import BackendCache
    from engine.images import fit_size
    from engine.settings import RenderSettings
    from engine.video_io import even_size
    from engine.video_settings import DEFAULT_STEADINESS

    settings = RenderSettings(size=args.size, iterations=args.iterations, precision=args.precision)
    backends = BackendCache()
    backend = backends.get(settings)
    style = _picture((args.style,))
    if not args.no_clip:
        real_clip(args, style, settings, backends)
    if args.clip_only:
        return
    width, height = even_size(*fit_size(3, 2, args.size))
    clip = pan_with_sprite(width, height, args.frames)
    count = "settling" if args.iterations is None else str(args.iterations)
    print(f"Fude video bench: {width}x{height} px, {args.frames} frames, {backend.device.type} "
          f"{backend.precision.name}, {settings.optimizer}, {count} iterations", flush=True)
    with tempfile.TemporaryDirectory(prefix="fude-bench-video-") as folder:
        work = Path(folder)
        clip_path = work / "pan.mkv"
        write_lossless(clip.frames, clip_path)
        started = time.perf_counter()
        alone = render_one_by_one(clip.frames, style, settings, backend)
        alone_seconds = (time.perf_counter() - started) / len(alone)
        alone_warp = warping_error(alone, clip)
        alone_style = float(np.mean(style_losses(backend, alone, clip.frames, style, settings)))
        print(f"one by one: E_warp {alone_warp:.5f}, style loss {alone_style:.4f}, {alone_seconds:.1f} s/frame",
              flush=True)
        for steadiness in args.steadiness or [DEFAULT_STEADINESS]:
            frames, timings = render_video(clip_path, work / f"pan-{steadiness:g}.mp4", style, settings, steadiness,
                                           backends)
            warp = warping_error(frames, clip)
            strength = float(np.mean(style_losses(backend, frames, clip.frames, style, settings)))
            print(_video_line(steadiness, warp, alone_warp, strength, alone_style, timings), flush=True)
        still_count = args.still_frames or args.frames
        still = [clip.frames[0]] * still_count
        still_path = work / "still.mkv"
        write_lossless(still, still_path)
        frames, _ = render_video(still_path, work / "still.mp4", style, settings, DEFAULT_STEADINESS, backends)
        means = np.array([frame.reshape(-1, 3).mean(axis=0) for frame in frames])
        drift = float(np.abs(means[-1] - means[0]).max())
        step = float(np.mean([np.abs(a.astype(float) - b).mean() for a, b in zip(frames[1:], frames[:-1])]))
        print(f"still shot, {still_count} frames: colour drift {drift:.2f} levels (first to last frame, largest "
              f"channel), {step:.2f} levels mean change between consecutive frames", flush=True)


if __name__ == "__main__":
    main()
