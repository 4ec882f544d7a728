"""Where Fude's shipped files are (the icon, the sample pictures): beside this module, in a checkout and in an
installed wheel alike (pyproject.toml ships them as this package's data), so nothing looks for the checkout."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
ICONS = ROOT / "icons"
SAMPLES = ROOT / "samples"
ICON_NAME = "fude"  # the icon's name in a desktop theme, and the .desktop file's
ICON_SVG = ICONS / f"{ICON_NAME}.svg"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def icon_png(size: int) -> Path:
    """The icon drawn at `size` x `size` px (one of ICON_SIZES), rendered from ICON_SVG."""
    return ICONS / f"{ICON_NAME}-{size}.png"
