"""Builders for the odd, broken and dangerous picture files the loaders must handle, written to a folder."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def gradient(width: int = 40, height: int = 30) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.float64)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float64)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                          np.full((height, width, 1), 128.0)], axis=2)
    return rgb.round().astype(np.uint8)


def write_valid(folder: Path) -> dict[str, Path]:
    """Unusual but valid pictures, by name."""
    rgb = Image.fromarray(gradient())
    files: dict[str, Path] = {}

    def save(name: str, image: Image.Image, **options: object) -> None:
        files[name] = folder / name
        image.save(files[name], **options)

    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.new("L", rgb.size, 0))  # fully transparent: must come out white
    save("rgba.png", rgba)
    save("la.png", rgb.convert("LA"))
    save("palette.png", rgb.convert("P", palette=Image.Palette.ADAPTIVE))
    save("palette_transparent.gif", rgb.convert("P"), transparency=0)
    save("gray.png", rgb.convert("L"))
    save("gray16.png", Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257))
    save("cmyk.jpg", rgb.convert("CMYK"))
    save("bilevel.png", rgb.convert("1"))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    save("exif_rotated.jpg", rgb, exif=exif.tobytes())
    frames = [Image.new("RGB", (20, 10), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    save("animated.gif", frames[0], save_all=True, append_images=frames[1:], duration=100, loop=0)
    save("animated.webp", frames[0], save_all=True, append_images=frames[1:], duration=100, loop=0)
    save("tiny.png", Image.new("RGB", (2, 3), (10, 20, 30)))
    save("strip.png", Image.new("RGB", (2000, 7), (200, 100, 50)))
    save("float.tif", Image.fromarray(np.linspace(0, 1, 600, dtype=np.float32).reshape(20, 30), mode="F"))
    return files


def write_broken(folder: Path) -> dict[str, Path]:
    """Files that are not usable pictures, by name (the missing one is not created)."""
    png = io.BytesIO()
    Image.fromarray(gradient(200, 200)).save(png, format="PNG")
    files = {
        "missing": folder / "missing.png",
        "not_an_image": folder / "notes.png",
        "empty": folder / "empty.jpg",
        "truncated": folder / "truncated.png",
        "folder": folder / "a_folder.png",
        "bomb": folder / "bomb.png",
    }
    files["not_an_image"].write_text("these are my notes, not a picture\n")
    files["empty"].write_bytes(b"")
    files["truncated"].write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    files["folder"].mkdir()
    # 1-bit, 12000 x 12000: a few kB on disk, 144 megapixels when decoded (Pillow's limit is about 89)
    Image.new("1", (12000, 12000)).save(files["bomb"])
    return files


def cut_out(image: np.ndarray) -> np.ndarray:
    """`image` (H x W x 3) as a creature cut out on a transparent background: opaque inside an ellipse, transparent
    outside, with a soft edge of partly transparent pixels between (H x W x 4 RGBA)."""
    height, width = image.shape[:2]
    y, x = np.mgrid[:height, :width]
    distance = np.hypot((y - height / 2) / (height * 0.4), (x - width / 2) / (width * 0.4))
    alpha = np.clip((1.2 - distance) * 255 / 0.4, 0, 255).astype(np.uint8)
    return np.dstack([image, alpha])
