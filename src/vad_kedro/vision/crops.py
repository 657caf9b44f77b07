"""I3D-style multi-crop geometry (Carreira & Zisserman, CVPR 2017 features as used by
Sultani et al. CVPR 2018 / RTFM: ten crops per snippet).

Crops are squares of side ``crop_fraction * min(H, W)``. Order, following torchvision
``FiveCrop``: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right, 4 centre. With 10 crops,
crop ``c + 5`` is the horizontally flipped twin of crop ``c`` (the pairing MGFN's code assumes).
``n_crops``: 1 = centre, 2 = centre + its flip, 5 = FiveCrop, 10 = FiveCrop + flips.
"""

from __future__ import annotations

from dataclasses import dataclass

VALID_N_CROPS = (1, 2, 5, 10)


@dataclass(frozen=True)
class Crop:
    """Pixel window [y0:y1, x0:x1] of a frame, optionally mirrored left-right."""

    y0: int
    y1: int
    x0: int
    x1: int
    flip: bool = False


def crop_windows(height: int, width: int, n_crops: int, crop_fraction: float = 0.875) -> list[Crop]:
    """The ``n_crops`` windows of a ``height`` x ``width`` frame (see module docstring for the order)."""
    if n_crops not in VALID_N_CROPS:
        raise ValueError(f"n_crops must be one of {VALID_N_CROPS}, got {n_crops}")
    if not 0 < crop_fraction <= 1:
        raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction}")
    side = max(int(round(crop_fraction * min(height, width))), 1)
    cy, cx = (height - side) // 2, (width - side) // 2
    five = [
        Crop(0, side, 0, side),
        Crop(0, side, width - side, width),
        Crop(height - side, height, 0, side),
        Crop(height - side, height, width - side, width),
        Crop(cy, cy + side, cx, cx + side),
    ]
    centre = five[4]
    if n_crops == 1:
        return [centre]
    if n_crops == 2:
        return [centre, Crop(centre.y0, centre.y1, centre.x0, centre.x1, True)]
    if n_crops == 5:
        return five
    return five + [Crop(c.y0, c.y1, c.x0, c.x1, True) for c in five]
