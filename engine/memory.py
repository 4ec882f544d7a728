"""How much memory a render needs and whether it fits: an estimate from VGG19's feature-map sizes at the run's
final scale, the memory available on the device, the largest size that fits, and turning an allocator's
out-of-memory failure into an OutOfMemory error that says what would fit."""

from __future__ import annotations

import ctypes
import gc
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import OutOfMemory
from engine.images import fit_size
from engine.lbfgs import COMPACT_ABOVE
from engine.network import VGG19_BLOCKS
from engine.settings import MIN_SIZE, RenderSettings
from engine.tiles import MIN_TILE, TILE_ALIGN, largest_crop, plan_tiles

# Calibrated on the CPU (bench/bench_soak.py --calibrate: single-scale runs of 21 L-BFGS steps, so its history
# is full, on a 2-core x86 machine): the peak resident memory a run adds to the process was 111, 236 and 668 MB
# at 128, 256 and 512 px in fp32 (tensor_bytes: 28, 113 and 452 MB), 185 MB at 256 px in bf16 (90 MB), i.e.
# about 80 MB plus 1.3 times the tensors counted. The allocator's slack, oneDNN's scratch buffers and
# fragmentation make the difference. Adam runs measured 359 and 748 MB at 256 and 512 px (92 and 370 MB
# counted): the same slope and about 150 MB more that does not grow with the size (the first use of
# torch.optim loads more of torch), so Adam has a larger constant.
OVERHEAD = 1.4
FIXED_BYTES = {"lbfgs": 80 * 1024**2, "adam": 240 * 1024**2}  # workspaces, code and objects a run brings in
FIT_MARGIN = 0.9  # plan to use at most this share of the memory that is available
SIZE_STEP = 16  # suggested sizes are a multiple of this


@dataclass(frozen=True)
class MemoryCheck:
    """What a run at `size` needs on `device`, what is available there (None: unknown), the largest size that
    fits (None when even the smallest does not) and the tile the run is computed in (None: in one pass)."""

    size: int
    device: str
    needed: int
    available: int | None
    fits: int | None
    tile: int | None = None

    @property
    def enough(self) -> bool:
        return self.available is None or self.needed <= self.available * FIT_MARGIN

    def warning(self) -> str | None:
        """One line for the user when the run will probably not fit; None when it will (or nobody can tell)."""
        if self.enough:
            return None
        tiles = f" even in tiles of {self.tile} px" if self.tile else ""
        what = (f"{self.size} px needs about {gigabytes(self.needed)} of memory on {self.device}{tiles}, but only "
                f"{gigabytes(self.available or 0)} is available")
        if self.fits is None:
            return f"{what}; even the smallest size may not fit"
        return f"{what}; {self.fits} px would fit"


def gigabytes(count: int) -> str:
    return f"{count / 1024**3:.1f} GB" if count >= 1024**3 else f"{count / 1024**2:.0f} MB"


def _maps(width: int, height: int) -> list[tuple[str, int]]:
    """(layer, elements) of every ReLU and pooling output of VGG19 up to relu5_1 for a width x height input."""
    out: list[tuple[str, int]] = []
    w, h = width, height
    for block, channels in enumerate(VGG19_BLOCKS, start=1):
        for i, c in enumerate(channels, start=1):
            out.append((f"relu{block}_{i}", c * w * h))
            if block == 5:
                return out  # relu5_1 is the deepest layer a render uses
        w, h = w // 2, h // 2
        out.append((f"pool{block}", channels[-1] * w * h))
    return out


STYLE_MAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_MAP = "relu4_2"


def _pass_bytes(width: int, height: int, element_size: int) -> int:
    """Bytes of one forward and backward pass of the network over `width` x `height`: the activations the forward
    pass saves, the backward pass's gradients and the losses' fp32 copies."""
    maps = _maps(width, height)
    saved = element_size * (3 * width * height + sum(n for _, n in maps))  # each conv's input is kept
    gradients = 3 * max(n for _, n in maps) * element_size  # a layer's output and input gradient, a scratch copy
    losses = 4 * sum(n for name, n in maps if name in (*STYLE_MAPS, CONTENT_MAP))
    if element_size == 4:
        losses = 4 * dict(maps)[CONTENT_MAP]  # fp32 features are used as they are; only content's difference
    return saved + gradients + losses


def _images_bytes(width: int, height: int) -> int:
    """Bytes of the image, its gradient, the content picture, the last good image and the one before the step, a
    frame, and the content's target features."""
    return 6 * 3 * width * height * 4 + 4 * dict(_maps(width, height))[CONTENT_MAP]


def _optimiser_bytes(width: int, height: int, optimizer: str, history: int) -> int:
    """Adam's two moments and a scratch copy; L-BFGS's curvature pairs (fp16 for a large picture, see
    engine.lbfgs.COMPACT_ABOVE) and four fp32 vectors (the last gradient and step, the direction, a scratch)."""
    values = 3 * width * height
    if optimizer != "lbfgs":
        return 3 * values * 4
    pair_bytes = 2 if values > COMPACT_ABOVE else 4
    return 2 * history * values * pair_bytes + 4 * values * 4


def _targets_bytes(width: int, height: int, element_size: int) -> int:
    """Bytes of a pass without gradients over `width` x `height` that measures a style picture's Gram matrices."""
    maps = _maps(width, height)
    return element_size * (sum(n for name, n in maps if name in STYLE_MAPS) + 2 * max(n for _, n in maps))


def tensor_bytes(width: int, height: int, style_width: int, style_height: int, element_size: int = 4,
                 optimizer: str = "lbfgs", history: int = 20, tile: int | None = None) -> int:
    """Bytes of the tensors alive at a step's peak (a pass's saved activations and gradients, the image and the
    optimiser's state) at `width` x `height`, and while the style's targets are computed: whichever is larger.
    With `tile`, every pass is over one tile's crop at a time (engine.tiles), and the picture holds two more
    copies (the tiles' gradient and the picture they are cut from)."""
    images = _images_bytes(width, height)
    picture = images + _optimiser_bytes(width, height, optimizer, history)
    if tile is None or len(plan_tiles(height, width, tile)) == 1:
        stepping = _pass_bytes(width, height, element_size) + picture
    else:
        crop_height, crop_width = largest_crop(height, width, tile)
        stepping = _pass_bytes(crop_width, crop_height, element_size) + picture + 2 * 3 * width * height * 4
    if tile is not None:
        style_height, style_width = largest_crop(style_height, style_width, tile)
    targets = _targets_bytes(style_width, style_height, element_size)
    return max(stepping, targets + images)


def largest_style_shape(shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """Of several style pictures' (H, W, ...) shapes, the one that costs most memory: every style is fitted to the
    same longest side, so the squarest one has the largest area (its targets are computed one style at a time,
    and each style's Gram matrices, a few MB, are what stays)."""
    if not shapes:
        raise ValueError("no style shapes")
    return max(shapes, key=lambda shape: min(shape[0], shape[1]) / max(shape[0], shape[1], 1))


def estimate_bytes(content_shape: tuple[int, ...], style_shape: tuple[int, ...], settings: RenderSettings,
                   element_size: int = 4, gif_frames: int = 0, history: int = 20, tile: int | None = None) -> int:
    """Memory a run of `settings` on pictures of these (H, W, ...) shapes needs beyond what is already resident
    (the process and the network): its final scale, where the images are largest; plus `gif_frames` kept
    frames of the result for an animation; in tiles of at most `tile` px when given. With several style pictures,
    pass the one largest_style_shape picks."""
    width, height = fit_size(content_shape[1], content_shape[0], settings.size)
    style_side = max(MIN_SIZE, round(settings.size * settings.style_scale))
    style_width, style_height = fit_size(style_shape[1], style_shape[0], style_side)
    tensors = tensor_bytes(width, height, style_width, style_height, element_size, settings.optimizer, history,
                           tile)
    fixed = FIXED_BYTES.get(settings.optimizer, max(FIXED_BYTES.values()))
    return round(OVERHEAD * tensors) + fixed + gif_frames * 3 * width * height


def largest_fitting_size(content_shape: tuple[int, ...], style_shape: tuple[int, ...], settings: RenderSettings,
                         available: int, element_size: int = 4, gif_frames: int = 0,
                         tile: int | None = None) -> int | None:
    """The largest size, at most `settings.size` and a multiple of SIZE_STEP where possible, whose estimate
    (in tiles of `tile` px when given) fits in `available` bytes; None when not even the smallest size does."""
    budget = available * FIT_MARGIN

    def fits(size: int) -> bool:
        needed = estimate_bytes(content_shape, style_shape, settings.replaced(size=size), element_size, gif_frames,
                                tile=tile)
        return needed <= budget

    found = _largest(fits, MIN_SIZE, settings.size)
    if found is None:
        return None
    rounded = found - found % SIZE_STEP
    return rounded if rounded >= MIN_SIZE else found


def largest_fitting_tile(content_shape: tuple[int, ...], style_shape: tuple[int, ...], settings: RenderSettings,
                         available: int, element_size: int = 4, gif_frames: int = 0) -> int | None:
    """The largest tile (a multiple of TILE_ALIGN, at least MIN_TILE) in which a run of `settings` fits in
    `available` bytes; None when not even MIN_TILE does (the picture's own copies are then too large)."""
    budget = available * FIT_MARGIN

    def fits(blocks: int) -> bool:
        needed = estimate_bytes(content_shape, style_shape, settings, element_size, gif_frames,
                                tile=blocks * TILE_ALIGN)
        return needed <= budget

    found = _largest(fits, MIN_TILE // TILE_ALIGN, max(MIN_TILE, settings.size) // TILE_ALIGN)
    return None if found is None else found * TILE_ALIGN


def _largest(fits: Callable[[int], bool], low: int, high: int) -> int | None:
    """The largest n in low..high with fits(n), for a `fits` true up to some n and false after; None if none."""
    if not fits(low):
        return None
    while low < high:  # fits(low); the answer is in [low, high]
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def available_bytes(device: torch.device) -> int | None:
    """Memory a run may still allocate on `device`; None when it cannot be known here."""
    if device.type == "cuda":
        try:
            free, _ = torch.cuda.mem_get_info(device)
            cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        except (RuntimeError, AssertionError):
            return None
        return int(free + cached)  # blocks torch's allocator holds but does not use serve a run too
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        except (AttributeError, RuntimeError):
            return None
    return system_available_bytes()


def system_available_bytes(meminfo: Path = Path("/proc/meminfo"), cgroup: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Main memory available to a new allocation: MemAvailable on Linux, free pages elsewhere on POSIX; less
    when this process is held to a smaller share (a container's cgroup limit, an address-space rlimit)."""
    found: int | None = None
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        found = None
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    limits: list[int | None] = [found]
    try:  # cgroup v2: what the group may still take
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            limits.append(int(limit) - int((cgroup / "memory.current").read_text()))
    except (OSError, ValueError):
        pass
    limits.append(_address_space_left())
    return max(0, min(x for x in limits if x is not None))


def _address_space_left() -> int | None:
    """Room left under RLIMIT_AS (ulimit -v), when one is set."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        size = next(int(line.split()[1]) * 1024 for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("VmSize:"))
    except (ImportError, OSError, ValueError, StopIteration):
        return None
    return soft - size


def check_memory(content_shape: tuple[int, ...], style_shape: tuple[int, ...], settings: RenderSettings,
                 device: torch.device, element_size: int = 4, gif_frames: int = 0,
                 available: int | None = None, tile: int | None = None) -> MemoryCheck:
    """Whether a run fits on `device`, and in which tiles: `tile` forces tiles of at most that many px; without it
    a run that does not fit in one pass gets the largest tile that fits (`available` overrides the measured free
    memory, for tests)."""
    if available is None:
        available = available_bytes(device)
    needed = estimate_bytes(content_shape, style_shape, settings, element_size, gif_frames, tile=tile)
    if tile is None and available is not None and needed > available * FIT_MARGIN:
        tile = largest_fitting_tile(content_shape, style_shape, settings, available, element_size,
                                    gif_frames) or MIN_TILE
        needed = estimate_bytes(content_shape, style_shape, settings, element_size, gif_frames, tile=tile)
    fits: int | None = settings.size
    if available is not None and needed > available * FIT_MARGIN:
        fits = largest_fitting_size(content_shape, style_shape, settings, available, element_size, gif_frames, tile)
    return MemoryCheck(size=settings.size, device=device.type, needed=needed, available=available, fits=fits,
                       tile=None if tile is None or tile >= settings.size else tile)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocator running out: CUDA's or MPS's OutOfMemoryError, Python's MemoryError, or the
    CPU allocator's RuntimeError ("DefaultCPUAllocator: can't allocate memory")."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return "out of memory" in text or "can't allocate memory" in text or "cannot allocate memory" in text
    return False


def release_memory(device: torch.device | None = None) -> None:
    """Give freed memory back: collect cycles, empty CUDA's cache, and ask glibc to return free heap pages."""
    gc.collect()
    if (device is None or device.type == "cuda") and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def out_of_memory(content_shape: tuple[int, ...], style_shape: tuple[int, ...], settings: RenderSettings,
                  device: torch.device, element_size: int = 4, size: int | None = None,
                  available: int | None = None) -> OutOfMemory:
    """The error for a run at `size` (default: the settings' size) that ran out of memory, with the largest
    size that the memory now available should hold (always smaller than the one that failed)."""
    size = size or settings.size
    if available is None:
        available = available_bytes(device)
    smaller = max(MIN_SIZE, int(size * 0.7) // SIZE_STEP * SIZE_STEP)  # the estimate was too low
    fits: int | None = smaller
    if available is not None:
        estimated = largest_fitting_size(content_shape, style_shape, settings.replaced(size=size), available,
                                         element_size)
        fits = None if estimated is None else min(smaller, estimated)
    if fits is not None and fits >= size:
        fits = None
    where = "the GPU" if device.type == "cuda" else device.type.upper() if device.type == "mps" else "the CPU"
    reason = f"ran out of memory on {where} rendering at {size} px"
    if fits is not None:
        reason += f"; {fits} px should fit"
    if device.type != "cpu":
        reason += "; the CPU may have more memory (device cpu)"
    return OutOfMemory(device.type, reason, size=size, fits=fits)
