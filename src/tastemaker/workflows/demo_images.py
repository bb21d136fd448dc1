"""Generate a sample library of synthetic images for ``tastemaker demo``.

The demo has to work without anyone's photo collection, so we draw one: gradients, shapes,
patterns and mixtures, in several sizes, aspect ratios and formats, spread over sub-folders.
Every image is rendered from three hidden attributes (warmth, roundness, complexity), and
``demo_taste`` turns them into a known "true utility". Tests and benchmarks use it to simulate
a person rating the demo library and to check that training recovers that person's taste.

Only numpy and Pillow are used, and everything is deterministic given the seed.
"""

import colorsys
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CATEGORIES: tuple[str, ...] = ("gradients", "shapes", "patterns", "mixed")
"""Sub-folders the images are spread over, in equal shares."""

# (width, height) and share of the library. The large ones exercise downscaled serving.
_SIZES: tuple[tuple[tuple[int, int], float], ...] = (
    ((512, 512), 0.33),
    ((640, 448), 0.26),
    ((448, 640), 0.26),
    ((768, 512), 0.10),
    ((1600, 1200), 0.03),
    ((1200, 1600), 0.02),
)
_LARGE_PIXELS = 1_000_000  # sizes at or above this are always saved as JPEG (fast, small)

# (extension, share). Large images are always JPEG; the shares hold over the whole library.
_FORMATS: tuple[tuple[str, float], ...] = (("jpg", 0.75), ("png", 0.17), ("webp", 0.08))

# Each drawing primitive has a roundness score in [0, 1]; an image with roundness r picks
# primitives whose score is near r (see _pick).
_GRADIENT_KINDS = {
    "diamond": 0.0,
    "square": 0.05,
    "linear": 0.2,
    "elliptical": 0.8,
    "glow": 0.9,
    "radial": 1.0,
}
_PATTERN_KINDS = {
    "stripes": 0.0,
    "checker": 0.05,
    "zigzag": 0.2,
    "plasma": 0.6,
    "waves": 0.75,
    "rings": 0.9,
    "dots": 1.0,
}
_SHAPE_KINDS = {
    "triangle": 0.0,
    "star": 0.0,
    "bar": 0.05,
    "square": 0.1,
    "polygon": 0.3,
    "blob": 0.75,
    "ellipse": 0.85,
    "ring": 0.95,
    "dots": 0.95,
    "circle": 1.0,
}


@dataclass(frozen=True)
class DemoImage:
    """One generated image and the hidden attributes it was drawn from.

    Attributes:
        path: absolute path of the written file.
        warmth: -1 (cold blue/green palette) ... +1 (warm red/orange/yellow palette).
        roundness: 0 (angular: triangles, squares, stars, stripes, checkers)
            ... 1 (round: circles, ellipses, rings, dots).
        complexity: 0 (plain: few elements, low frequency) ... 1 (busy: many elements,
            high frequency).
        category: the sub-folder, one of ``CATEGORIES``.
    """

    path: Path
    warmth: float
    roundness: float
    complexity: float
    category: str


def demo_taste(image: DemoImage) -> float:
    """Hidden "true utility" of a demo image for a simulated person, in [-1, 1].

    This person likes warm palettes (weight 0.45), round shapes (weight 0.35) and medium
    complexity (weight 0.2: best at 0.5, worst when plain or very busy). The result is a
    deterministic function of the attributes; add noise yourself to simulate a human.
    """
    warm = image.warmth  # -1 .. 1
    round_ = 2.0 * image.roundness - 1.0  # -1 .. 1
    medium = 1.0 - 8.0 * (image.complexity - 0.5) ** 2  # -1 .. 1, peak at 0.5
    return 0.45 * warm + 0.35 * round_ + 0.2 * medium


def generate_demo_images(
    folder: Path,
    count: int = 300,
    seed: int = 0,
    on_image: Callable[[], None] | None = None,
) -> list[DemoImage]:
    """Write ``count`` demo images under ``folder`` and return them in generation order.

    Images go into the sub-folders in ``CATEGORIES`` as ``<category>/demo_<index>.<ext>``.
    The same seed and count give byte-identical files; existing files with the same names
    are overwritten (files from an earlier run with another count or seed are left alone).
    ``on_image`` is called after each image is written, e.g. to advance a progress bar.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    folder = Path(folder).resolve()
    seed_key = seed & 0xFFFF_FFFF_FFFF_FFFF
    plan_rng = np.random.default_rng([seed_key, 0])

    categories = [CATEGORIES[k] for k in _shuffled_quota(plan_rng, count, [1.0] * 4)]
    sizes = [_SIZES[k][0] for k in _shuffled_quota(plan_rng, count, [s for _, s in _SIZES])]
    formats = [_FORMATS[k][0] for k in _shuffled_quota(plan_rng, count, [s for _, s in _FORMATS])]
    _large_images_as_jpeg(sizes, formats)
    warmths = _stratified(plan_rng, count, -1.0, 1.0)
    roundnesses = _stratified(plan_rng, count, 0.0, 1.0)
    complexities = _stratified(plan_rng, count, 0.0, 1.0)

    for category in CATEGORIES:
        (folder / category).mkdir(parents=True, exist_ok=True)
    digits = max(4, len(str(count - 1)))

    def make(i: int) -> DemoImage:
        rng = np.random.default_rng([seed_key, 1, i])  # one stream per image: order-free
        image = DemoImage(
            path=folder / categories[i] / f"demo_{i:0{digits}d}.{formats[i]}",
            warmth=float(warmths[i]),
            roundness=float(roundnesses[i]),
            complexity=float(complexities[i]),
            category=categories[i],
        )
        width, height = sizes[i]
        pixels = _render(image, width, height, rng, grain=formats[i] != "png")
        _save(Image.fromarray(pixels, "RGB"), image.path, formats[i])
        return image

    # numpy and Pillow release the GIL for the heavy work, so threads use several cores.
    images: list[DemoImage] = []
    pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1))
    try:
        for image in pool.map(make, range(count)):
            images.append(image)
            if on_image is not None:
                on_image()
    finally:  # on error or Ctrl+C, drop the queued images instead of finishing them
        pool.shutdown(wait=True, cancel_futures=True)
    return images


# --- planning -------------------------------------------------------------------------------


def _shuffled_quota(rng: np.random.Generator, n: int, weights: list[float]) -> list[int]:
    """Indices 0..len(weights)-1 in proportion to weights, each at least once if n allows."""
    total = sum(weights)
    shares = [w / total * n for w in weights]
    counts = [math.floor(s) for s in shares]
    if n >= len(weights):
        counts = [max(1, c) for c in counts]
    while sum(counts) < n:
        k = max(range(len(counts)), key=lambda j: shares[j] - counts[j])
        counts[k] += 1
    while sum(counts) > n:
        reducible = [j for j in range(len(counts)) if counts[j] > 1]
        k = max(reducible, key=lambda j: counts[j] - shares[j])
        counts[k] -= 1
    order = [k for k, c in enumerate(counts) for _ in range(c)]
    return [order[j] for j in rng.permutation(n)]


def _large_images_as_jpeg(sizes: list[tuple[int, int]], formats: list[str]) -> None:
    """Swap formats so that large images are JPEG, keeping the format counts."""
    large = [i for i, (w, h) in enumerate(sizes) if w * h >= _LARGE_PIXELS]
    spare_jpegs = [i for i, f in enumerate(formats) if f == "jpg" and i not in set(large)]
    for i in large:
        if formats[i] != "jpg" and spare_jpegs:
            j = spare_jpegs.pop()
            formats[i], formats[j] = formats[j], formats[i]


def _stratified(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """n values covering [lo, hi] evenly (one per stratum), in random order."""
    return lo + (hi - lo) * (rng.permutation(n) + rng.random(n)) / max(n, 1)


def _pick(rng: np.random.Generator, kinds: dict[str, float], roundness: float) -> str:
    """Pick a primitive whose roundness score is close to ``roundness``."""
    names = list(kinds)
    scores = np.array([kinds[k] for k in names])
    weights = np.exp(-((scores - roundness) ** 2) / (2 * 0.18**2))
    return names[rng.choice(len(names), p=weights / weights.sum())]


# --- colour ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Palette:
    colors: np.ndarray  # (k, 3) float32 in 0..255, ordered along the hue sweep
    dark: np.ndarray  # (3,)
    light: np.ndarray  # (3,)


def _hls(h: float, lightness: float, s: float) -> np.ndarray:
    return np.array(colorsys.hls_to_rgb(h % 1.0, lightness, s), dtype=np.float32) * 255.0


def _palette(warmth: float, rng: np.random.Generator) -> _Palette:
    """A harmonious palette around a hue set by warmth.

    The base hue runs from azure/blue (cold, -1) to red-orange (warm, +1), either through
    green and yellow or through violet and pink (chosen at random), so a neutral warmth is
    green or purple. The palette is analogous (neighbouring hues) or monochromatic.
    """
    t = (warmth + 1.0) / 2.0
    via_green = rng.random() < 0.5
    # blue, cyan, green, yellow, orange -- or azure, blue, violet, magenta, pink, red-orange
    hue = 218.0 - 210.0 * t if via_green else 205.0 + 175.0 * t
    base = (hue + rng.uniform(-8, 8)) / 360.0
    k = int(rng.integers(3, 6))
    if rng.random() < 0.7:  # analogous
        spread = rng.uniform(12, 26) / 360.0
        hues = base + spread * np.linspace(-1, 1, k) * rng.choice([-1, 1])
    else:  # monochromatic
        hues = base + rng.uniform(-4, 4, k) / 360.0
    lo, hi = rng.uniform(0.28, 0.42), rng.uniform(0.62, 0.8)
    lights = np.linspace(lo, hi, k)
    if rng.random() < 0.5:
        lights = lights[::-1]
    sats = rng.uniform(0.5, 0.92, k)
    colors = np.stack([_hls(h, li, s) for h, li, s in zip(hues, lights, sats, strict=True)])
    dark = _hls(base, rng.uniform(0.1, 0.18), rng.uniform(0.3, 0.55))
    light = _hls(base, rng.uniform(0.88, 0.94), rng.uniform(0.35, 0.7))
    return _Palette(colors=colors, dark=dark, light=light)


def _ramp(t: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Map t in [0, 1] (h, w) through evenly spaced colour stops (k, 3) to (h, w, 3)."""
    xs = np.linspace(0.0, 1.0, 1024)
    positions = np.linspace(0.0, 1.0, len(stops))
    lut = np.stack([np.interp(xs, positions, stops[:, c]) for c in range(3)], axis=-1)
    idx = np.clip(t * 1023.0 + 0.5, 0, 1023).astype(np.intp)
    return lut.astype(np.float32)[idx]


def _stops(pal: _Palette, n: int, rng: np.random.Generator) -> np.ndarray:
    """n colour stops spread over the palette, maybe starting/ending on its dark/light tint."""
    k = len(pal.colors)
    spread = np.round(np.linspace(0, k - 1, n)).astype(int)
    indices = spread if n <= k else np.arange(n) % k
    if rng.random() < 0.5:
        indices = indices[::-1]
    stops = [pal.colors[j] for j in indices]
    end = rng.random()
    if end < 0.3:
        stops[0] = pal.dark
    elif end < 0.55:
        stops[-1] = pal.light
    return np.stack(stops)


# --- fields ---------------------------------------------------------------------------------


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates centred on the image: y (h, 1) and x (1, w), float32."""
    y = np.arange(h, dtype=np.float32)[:, None] - (h - 1) / 2.0
    x = np.arange(w, dtype=np.float32)[None, :] - (w - 1) / 2.0
    return y, x


def _rotate(y: np.ndarray, x: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = math.cos(angle), math.sin(angle)
    return x * c + y * s, -x * s + y * c


def _normalise(t: np.ndarray) -> np.ndarray:
    lo, hi = float(t.min()), float(t.max())
    return (t - lo) / (hi - lo + 1e-6)


def _soft_square(s: np.ndarray, period: float, duty: float = 0.0) -> np.ndarray:
    """Anti-aliased square wave of s (pixels) in [0, 1]; edges about 2 px wide."""
    k = period / (2.0 * math.pi * 1.2)
    wave = np.sin(s * np.float32(2.0 * math.pi / period)) - np.float32(duty)
    return np.clip(wave * np.float32(k), -1.0, 1.0) * 0.5 + 0.5


def _gradient_field(
    h: int, w: int, roundness: float, complexity: float, rng: np.random.Generator
) -> np.ndarray:
    """A smooth field in [0, 1]: linear/diamond/square (angular) or radial/glow (round)."""
    kind = _pick(rng, _GRADIENT_KINDS, roundness)
    y, x = _grid(h, w)
    cy, cx = rng.uniform(-0.3, 0.3) * h, rng.uniform(-0.3, 0.3) * w
    angle = rng.uniform(0, 2 * math.pi)
    if kind == "linear":
        u, _ = _rotate(y, x, angle)
        t = u
    elif kind == "diamond":
        t = np.abs(x - cx) + np.abs(y - cy)
    elif kind == "square":
        u, v = _rotate(y - cy, x - cx, rng.uniform(0, math.pi / 2))
        t = np.maximum(np.abs(u), np.abs(v))
    elif kind == "radial":
        t = np.hypot(x - cx, y - cy)
    elif kind == "elliptical":
        u, v = _rotate(y - cy, x - cx, angle)
        t = np.hypot(u, v * rng.uniform(1.5, 2.5))
    else:  # glow: a few soft light sources
        d = min(h, w)
        t = np.zeros((h, w), dtype=np.float32)
        for _ in range(int(rng.integers(2, 5))):
            gy, gx = rng.uniform(-0.45, 0.45) * h, rng.uniform(-0.45, 0.45) * w
            sigma = d * rng.uniform(0.2, 0.45)
            t = t + np.exp(-(((x - gx) ** 2 + (y - gy) ** 2) / np.float32(2 * sigma * sigma)))
        t = -t
    t = _normalise(np.broadcast_to(t, (h, w)).astype(np.float32))
    if complexity > 0.3:  # gentle banding that grows with complexity
        bands = 2 + round(complexity * 6)
        amp = 0.05 * complexity
        t = np.clip(t + amp * np.sin(t * np.float32(2 * math.pi * bands)), 0.0, 1.0)
    return t


def _pattern_field(
    h: int, w: int, roundness: float, complexity: float, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """A repeating pattern in [0, 1]; the flag says whether it is continuous (ramp it)."""
    kind = _pick(rng, _PATTERN_KINDS, roundness)
    d = min(h, w)
    period = d / 4.0 * (1.0 / 9.0) ** complexity  # 1/4 of the image ... 1/36 of it
    y, x = _grid(h, w)
    angle = rng.choice([0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 9.0]) * math.pi / 12
    if kind == "stripes":
        u, _ = _rotate(y, x, angle)
        return _soft_square(u, period, rng.uniform(-0.5, 0.5)), False
    if kind == "checker":
        u, v = _rotate(y, x, rng.choice([0.0, math.pi / 4]))
        a = _soft_square(u, period) * 2 - 1
        b = _soft_square(v, period) * 2 - 1
        return a * b * 0.5 + 0.5, False
    if kind == "zigzag":
        u, v = _rotate(y, x, angle)
        zig_period = period * rng.uniform(1.0, 2.0)
        tri = np.abs((v / np.float32(zig_period)) % 1.0 - 0.5) * 2.0  # triangle wave 0..1
        return _soft_square(u + tri * np.float32(period * 0.8), period), False
    if kind == "plasma":
        f = np.zeros((h, w), dtype=np.float32)
        for _ in range(4):
            angle = rng.uniform(0, 2 * math.pi)
            u = _rotate(y, x, angle)[0]
            p = period * rng.uniform(1.5, 4.0)
            f = f + np.sin(u * np.float32(2 * math.pi / p) + np.float32(rng.uniform(0, 6.3)))
        cy, cx = rng.uniform(-0.5, 0.5) * h, rng.uniform(-0.5, 0.5) * w
        r = np.hypot(x - cx, y - cy)
        f = f + np.sin(r * np.float32(2 * math.pi / (period * 2.5)))
        return _normalise(f), True
    if kind == "waves":
        u, v = _rotate(y, x, angle)
        amp = period * rng.uniform(0.3, 0.9)
        wave_period = period * rng.uniform(2.0, 5.0)
        s = u + np.sin(v * np.float32(2 * math.pi / wave_period)) * np.float32(amp)
        return np.sin(s * np.float32(2 * math.pi / period)) * 0.5 + 0.5, True
    if kind == "rings":
        cy, cx = rng.uniform(-0.35, 0.35) * h, rng.uniform(-0.35, 0.35) * w
        r = np.hypot(x - cx, y - cy)
        return _soft_square(r, period, rng.uniform(-0.4, 0.4)), False
    # dots: a hexagonal lattice of discs
    u, v = _rotate(y, x, angle)
    row_h = period * 0.866
    row = np.floor(v / np.float32(row_h))
    u = u + (row % 2) * np.float32(period / 2)
    lu = u % np.float32(period) - np.float32(period / 2)
    lv = v % np.float32(row_h) - np.float32(row_h / 2)
    radius = period * rng.uniform(0.22, 0.4)
    return np.clip(np.float32(radius + 0.5) - np.hypot(lu, lv), 0.0, 1.0), False


def _vignette(h: int, w: int, strength: float) -> np.ndarray:
    y, x = _grid(h, w)
    r2 = (x / np.float32(w / 2)) ** 2 + (y / np.float32(h / 2)) ** 2
    return (1.0 - np.float32(strength) * r2 / 2.0)[..., None]


# --- shapes ---------------------------------------------------------------------------------


def _regular(cx: float, cy: float, r: float, n: int, rot: float) -> list[tuple[float, float]]:
    return [
        (cx + r * math.cos(rot + 2 * math.pi * j / n), cy + r * math.sin(rot + 2 * math.pi * j / n))
        for j in range(n)
    ]


def _shape_geometry(
    kind: str, cx: float, cy: float, r: float, rng: np.random.Generator
) -> list[tuple[str, object]]:
    """Drawing commands (in 1x pixel coordinates) for one shape."""
    rot = rng.uniform(0, 2 * math.pi)
    if kind == "circle":
        return [("ellipse", (cx - r, cy - r, cx + r, cy + r))]
    if kind == "ring":
        ry = r * rng.choice([1.0, rng.uniform(0.6, 0.9)])
        return [("ring", ((cx - r, cy - ry, cx + r, cy + ry), r * rng.uniform(0.12, 0.3)))]
    if kind == "dots":
        cmds: list[tuple[str, object]] = []
        for _ in range(int(rng.integers(3, 8))):
            a, dist = rng.uniform(0, 2 * math.pi), r * math.sqrt(rng.random()) * 0.8
            dr = r * rng.uniform(0.15, 0.3)
            px, py = cx + dist * math.cos(a), cy + dist * math.sin(a)
            cmds.append(("ellipse", (px - dr, py - dr, px + dr, py + dr)))
        return cmds
    if kind in ("ellipse", "blob"):
        theta = np.linspace(0, 2 * math.pi, 96, endpoint=False)
        if kind == "ellipse":
            rx, ry = r, r * rng.uniform(0.45, 0.8)
            xs, ys = rx * np.cos(theta), ry * np.sin(theta)
        else:
            radius = np.ones_like(theta)
            for k in (2, 3, 4):
                radius += rng.uniform(0.04, 0.14) * np.sin(k * theta + rng.uniform(0, 6.3))
            xs, ys = r * radius * np.cos(theta), r * radius * np.sin(theta)
        c, s = math.cos(rot), math.sin(rot)
        pts = [(cx + a * c - b * s, cy + a * s + b * c) for a, b in zip(xs, ys, strict=True)]
        return [("polygon", pts)]
    if kind == "star":
        n = int(rng.integers(5, 9))
        inner = rng.uniform(0.38, 0.55)
        pts = _regular(cx, cy, r, 2 * n, rot)
        pts = [
            (cx + (px - cx) * (inner if j % 2 else 1.0), cy + (py - cy) * (inner if j % 2 else 1.0))
            for j, (px, py) in enumerate(pts)
        ]
        return [("polygon", pts)]
    if kind == "bar":
        half_l, half_w = r * 1.2, r * rng.uniform(0.12, 0.3)
        c, s = math.cos(rot), math.sin(rot)
        corners = [(-half_l, -half_w), (half_l, -half_w), (half_l, half_w), (-half_l, half_w)]
        return [("polygon", [(cx + a * c - b * s, cy + a * s + b * c) for a, b in corners])]
    sides = {"triangle": 3, "square": 4}.get(kind) or int(rng.integers(5, 7))
    return [("polygon", _regular(cx, cy, r, sides, rot))]


def _draw(
    draw: ImageDraw.ImageDraw,
    cmds: list,
    fill: tuple | int,
    scale: float,
    dx: float = 0.0,
    dy: float = 0.0,
) -> None:
    def tr(px: float, py: float) -> tuple[float, float]:
        return ((px + dx) * scale, (py + dy) * scale)

    for op, data in cmds:
        if op == "ellipse":
            x0, y0, x1, y1 = data
            draw.ellipse((*tr(x0, y0), *tr(x1, y1)), fill=fill)
        elif op == "ring":
            (x0, y0, x1, y1), width = data
            line = max(1, round(width * scale))
            draw.ellipse((*tr(x0, y0), *tr(x1, y1)), outline=fill, width=line)
        else:
            draw.polygon([tr(px, py) for px, py in data], fill=fill)


def _add_shapes(
    base: np.ndarray,
    pal: _Palette,
    n: int,
    roundness: float,
    complexity: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw n soft-edged shapes over base (h, w, 3 float32), optionally with a soft shadow."""
    h, w = base.shape[:2]
    d = min(h, w)
    size = 0.3 * (0.07 / 0.3) ** (complexity**0.7)
    shapes = []
    for _ in range(n):
        r = d * size * rng.uniform(0.6, 1.35)
        if n == 1:
            cx, cy = w * rng.uniform(0.38, 0.62), h * rng.uniform(0.38, 0.62)
        else:
            cx, cy = w * rng.uniform(0.08, 0.92), h * rng.uniform(0.08, 0.92)
        kind = _pick(rng, _SHAPE_KINDS, roundness)
        choice = rng.integers(0, len(pal.colors) + 2)
        color = [*pal.colors, pal.dark, pal.light][choice]
        alpha = int(rng.uniform(235, 255) if complexity < 0.4 else rng.uniform(160, 245))
        shapes.append((r, _shape_geometry(kind, cx, cy, r, rng), color, alpha))
    shapes.sort(key=lambda s: -s[0])

    if rng.random() < 0.6:  # soft drop shadow under all shapes
        mask = Image.new("L", (w, h), 0)
        mdraw = ImageDraw.Draw(mask)
        off = d * 0.012
        for _, cmds, _, _ in shapes:
            _draw(mdraw, cmds, 255, 1.0, off, off * 1.4)
        mask = mask.filter(ImageFilter.GaussianBlur(max(2.0, d * 0.012)))
        shade = np.asarray(mask, dtype=np.float32)[..., None] * np.float32(0.3 / 255.0)
        base = base * (1.0 - shade)

    # Supersample: NEAREST 2x up then a 2x2 box down leaves the background exactly as it was
    # and gives the shapes anti-aliased edges.
    big = Image.fromarray(_to_uint8(base), "RGB").resize((2 * w, 2 * h), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(big, "RGBA")
    for _, cmds, color, alpha in shapes:
        fill = (*(int(c) for c in color), alpha)
        _draw(draw, cmds, fill, 2.0)
    small = big.reduce(2)
    return np.asarray(small, dtype=np.float32)


# --- rendering ------------------------------------------------------------------------------


def _to_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(a + 0.5, 0, 255).astype(np.uint8)


def _render(
    image: DemoImage, w: int, h: int, rng: np.random.Generator, grain: bool = True
) -> np.ndarray:
    """Render one image (h, w, 3 uint8) from its attributes, with film grain if asked.

    PNGs are left clean (like flat graphics), which also keeps them small and fast to encode.
    """
    pal = _palette(image.warmth, rng)
    c, r = image.complexity, image.roundness
    if image.category == "gradients":
        stops = _stops(pal, 2 + round(c * 3), rng)
        img = _ramp(_gradient_field(h, w, r, c, rng), stops)
    elif image.category == "patterns":
        field, continuous = _pattern_field(h, w, r, c, rng)
        if continuous:
            img = _ramp(field, _stops(pal, int(rng.integers(3, 6)), rng))
        else:
            bg = _ramp(_gradient_field(h, w, r, 0.0, rng), _stops(pal, 2, rng))
            fg = _stops(pal, 1, rng)[0] if rng.random() < 0.6 else pal.light
            img = bg + (fg - bg) * field[..., None]
    elif image.category == "shapes":
        bg = _ramp(_gradient_field(h, w, r, 0.0, rng), _stops(pal, 2, rng))
        img = _add_shapes(bg, pal, 1 + round(c**1.3 * 28), r, c, rng)
    else:  # mixed: gradient, faint pattern, a few shapes
        img = _ramp(_gradient_field(h, w, r, c * 0.5, rng), _stops(pal, 3, rng))
        field, _ = _pattern_field(h, w, r, c, rng)
        tint = pal.light if rng.random() < 0.5 else pal.dark
        img = img + (tint - img) * (field[..., None] * np.float32(rng.uniform(0.12, 0.3)))
        img = _add_shapes(img, pal, 1 + round(c * 12), r, c, rng)
    if rng.random() < 0.5:
        img = img * _vignette(h, w, rng.uniform(0.15, 0.35))
    sigma = rng.uniform(1.5, 4.0)
    if grain:
        img = img + rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(sigma)
    return _to_uint8(img)


def _save(img: Image.Image, path: Path, fmt: str) -> None:
    if fmt == "jpg":
        img.save(path, "JPEG", quality=90)
    elif fmt == "png":
        img.save(path, "PNG", compress_level=1)
    else:
        img.save(path, "WEBP", quality=85, method=4)
