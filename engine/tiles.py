"""Where the tiles of a tiled run lie: each tile's interior (the part of the picture whose features it
contributes) and its crop (the interior plus a border as wide as VGG19's receptive field up to relu5_1, so the
features in the interior are exactly those of the whole picture), lined up with the network's pooling grid.

Why a border of 80 px: a relu5_1 feature depends on the 16 px block under it and on 70 px either side (two 3x3
convolutions at stride 1, two at 2, four at 4, four at 8, one at 16: 2 + 4 + 16 + 32 + 16 = 70;
tests/test_tiling.py measures it on the real network). Crops must start on a multiple of 16 px, the stride of
relu5_1, so that every pooling layer of a tile pairs the same pixels as it does in the whole picture: 70 rounded
up to that is 80. Where a tile touches the picture's edge it needs no border there: the network's zero padding
at the picture's edge is the same in the tile as in the whole picture."""

from __future__ import annotations

from dataclasses import dataclass

TILE_ALIGN = 16  # relu5_1's stride: four 2x2 poolings
RECEPTIVE_REACH = 70  # pixels either side of its block that a relu5_1 feature depends on
TILE_BORDER = -(-RECEPTIVE_REACH // TILE_ALIGN) * TILE_ALIGN  # 80
MIN_TILE = 64  # smaller tiles would spend almost all their work on borders
MAX_LEVEL = 4  # relu5_1 is after four poolings


@dataclass(frozen=True)
class Tile:
    """One tile of a `height` x `width` picture: its interior rows top..bottom and columns left..right (pixels,
    end exclusive) and its crop, which contains the interior and the border around it."""

    height: int
    width: int
    top: int
    bottom: int
    left: int
    right: int
    crop_top: int
    crop_bottom: int
    crop_left: int
    crop_right: int

    @classmethod
    def whole(cls, height: int, width: int) -> Tile:
        """The whole picture as one tile (an untiled run)."""
        return cls(height, width, 0, height, 0, width, 0, height, 0, width)

    @property
    def is_whole(self) -> bool:
        """Whether this tile is the whole picture (an untiled pass)."""
        return self == Tile.whole(self.height, self.width)

    @property
    def crop(self) -> tuple[slice, slice]:
        """The crop's rows and columns in the picture."""
        return slice(self.crop_top, self.crop_bottom), slice(self.crop_left, self.crop_right)

    @property
    def crop_pixels(self) -> int:
        return (self.crop_bottom - self.crop_top) * (self.crop_right - self.crop_left)

    def in_picture(self, level: int) -> tuple[slice, slice]:
        """The interior's rows and columns in the whole picture's feature map after `level` poolings."""
        return (slice(self.top >> level, self.bottom >> level), slice(self.left >> level, self.right >> level))

    def in_crop(self, level: int) -> tuple[slice, slice]:
        """The interior's rows and columns in this tile's own feature map after `level` poolings."""
        rows, columns = self.in_picture(level)
        down, across = self.crop_top >> level, self.crop_left >> level
        return (slice(rows.start - down, rows.stop - down), slice(columns.start - across, columns.stop - across))


def _spans(length: int, side: int) -> list[tuple[int, int]]:
    """Cut 0..length into as few spans of at most `side` (a multiple of TILE_ALIGN) as possible, as even as the
    grid allows, every cut on a multiple of TILE_ALIGN."""
    blocks = -(-length // TILE_ALIGN)
    count = -(-blocks // (side // TILE_ALIGN))
    base, extra = divmod(blocks, count)
    cuts = [0]
    for k in range(count):
        cuts.append(min(length, cuts[-1] + (base + (1 if k < extra else 0)) * TILE_ALIGN))
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def tile_side(tile: int) -> int:
    """A tile size rounded down to the grid (at least MIN_TILE)."""
    return max(MIN_TILE, tile - tile % TILE_ALIGN)


def plan_tiles(height: int, width: int, tile: int | None) -> tuple[Tile, ...]:
    """The tiles of a `height` x `width` picture whose interiors are at most `tile` px on a side (rounded down to
    the grid); one whole tile when `tile` is None or the picture fits in one."""
    if tile is None or (height <= tile and width <= tile):
        return (Tile.whole(height, width),)
    side = tile_side(tile)
    out = []
    for top, bottom in _spans(height, side):
        for left, right in _spans(width, side):
            out.append(Tile(height, width, top, bottom, left, right,
                            max(0, top - TILE_BORDER), min(height, bottom + TILE_BORDER),
                            max(0, left - TILE_BORDER), min(width, right + TILE_BORDER)))
    return tuple(out)


def largest_crop(height: int, width: int, tile: int) -> tuple[int, int]:
    """(height, width) of the largest crop of a plan: what a tile's pass through the network must hold."""
    tiles = plan_tiles(height, width, tile)
    return (max(t.crop_bottom - t.crop_top for t in tiles), max(t.crop_right - t.crop_left for t in tiles))


def work_factor(height: int, width: int, tile: int | None) -> float:
    """How many pixels the network processes per pixel of the picture in one pass over the tiles (1: untiled)."""
    tiles = plan_tiles(height, width, tile)
    return sum(t.crop_pixels for t in tiles) / (height * width)
