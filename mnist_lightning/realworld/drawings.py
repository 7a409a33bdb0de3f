"""Digits drawn on the draw-a-digit page in the many ways people write them, rendered as the page's canvas renders
them: the pictures of a robustness benchmark and of tests.

MNIST's writers (Census Bureau employees and American high-school students) seldom crossed a seven, put a flag and
a base on a one, closed a four at the top or looped the foot of a two, and a model trained on MNIST alone misreads
those. Each `Style` is one way of writing a digit, as pen-down strokes in a unit box. `draw` writes it with one
person's hand (a smooth wobble, a slant, a width, strokes a little longer or shorter: all drawn from the caller's
generator), at one of the `PLACEMENTS` and with a pen from `PEN_WIDTHS`, and returns the PNG the page would send.

How the page paints (mnist_lightning/web/static/app.js): a white canvas; at pointer-down a new path and a dot; at
every pointer move a lineTo and a stroke() of the whole path so far, in #111 with round caps and joins. The path is
stroked again at every move, so the anti-aliased fringe of a stroke's early part is painted over many times and
darkens: a pixel that the path covers by a share c during m of those stroke() calls ends 1 - (1 - c)^m inked; only
the last few moves of a stroke keep soft edges. `render` paints the same way: each point of a stroke is one pointer
event; it counts, at 4x4 samples a pixel, the calls that cover each sample, hence each call's coverage of each pixel.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

Point = tuple[float, float]
Polyline = tuple[Point, ...]

STEP = 0.025  # spacing of a stroke's points in digit heights: smooth curves, and about the page's pointer-event spacing
INK, PAPER = 0x11, 0xFF  # the page's strokeStyle #111 on its fillStyle #fff
SUPERSAMPLE = 4  # samples a pixel side: 16 coverage levels a stroke() call, as a rasterizer's 4x4 grid
MARGIN = 0.015  # the least room left between the ink (pen width included) and the canvas's edge, a share of its side


@dataclass(frozen=True)
class Style:
    """One way of writing a digit: its pen-down strokes, in the order drawn, as polylines in a unit box (x right,
    y down, the digit about 1 tall and 0.6 wide), points dense enough to look smooth."""

    digit: int
    strokes: tuple[Polyline, ...]


@dataclass(frozen=True)
class Placement:
    """Where on the canvas a digit is drawn, and how large."""

    height: tuple[float, float]  # the ink's height (pen width included) as a share of the canvas side, drawn uniformly
    where: str  # "centre" (nudged a little), "corner" (one of the four, at random) or "off_centre" (a random way)
    squeeze: float = 1.0  # width multiplier: narrow handwriting


PLACEMENTS: dict[str, Placement] = {
    "centred": Placement((0.65, 0.75), "centre"),
    "small_corner": Placement((0.25, 0.3), "corner"),
    "off_centre": Placement((0.4, 0.5), "off_centre"),
    "large": Placement((0.88, 0.94), "centre"),
    "tall_narrow": Placement((0.75, 0.85), "centre", squeeze=0.55),
}
PEN_WIDTHS: tuple[float, ...] = (0.03, 0.08, 0.14)  # shares of the canvas side: a fine pen, the page's own, a marker


# Pieces of strokes ---------------------------------------------------------------------------------------------


def _count(length: float) -> int:
    """How many points a piece of this length gets: one every STEP or closer, at least 2."""
    return max(2, math.ceil(length / STEP) + 1)


def _points(xy: np.ndarray) -> list[Point]:
    """[N, 2] array -> list of (x, y) floats."""
    return [(float(x), float(y)) for x, y in xy]


def _spaced(xy: np.ndarray) -> list[Point]:
    """A finely sampled curve, [N, 2], again with points evenly spaced along its length, STEP apart or closer
    (a curve's parameter runs faster in some places than others)."""
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    at = np.linspace(0.0, along[-1], _count(float(along[-1])))
    return _points(np.stack([np.interp(at, along, xy[:, 0]), np.interp(at, along, xy[:, 1])], axis=1))


FINE = 400  # samples of a curve before it is evenly spaced


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> list[Point]:
    """An ellipse arc from angle `start` to `end`, in degrees as on screen (0 = right, 90 = down, 270 = up); an end
    below the start turns the other way (counter-clockwise as seen)."""
    t = np.radians(np.linspace(start, end, FINE))
    return _spaced(np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1))


def bezier(*controls: Point) -> list[Point]:
    """A Bezier curve of any degree from the first control point to the last."""
    c = np.array(controls, dtype=float)
    degree = len(c) - 1
    t = np.linspace(0.0, 1.0, FINE)[:, None]
    return _spaced(sum(math.comb(degree, k) * t**k * (1 - t) ** (degree - k) * c[k] for k in range(degree + 1)))


def line(*corners: Point) -> list[Point]:
    """Straight pieces through these corners, points every STEP along them (a wobble bends them like a hand)."""
    out = [corners[0]]
    for a, b in zip(corners, corners[1:]):
        t = np.linspace(0.0, 1.0, _count(math.dist(a, b)))[1:, None]
        out += _points(np.array(a) + t * (np.array(b) - np.array(a)))
    return out


def stroke(*pieces: list[Point]) -> Polyline:
    """One pen-down stroke through pieces drawn one after another; a piece that starts where the previous one ended
    shares that point, any other is joined by a straight move."""
    out: list[Point] = []
    for piece in pieces:
        if out and math.dist(out[-1], piece[0]) < 1e-9:
            piece = piece[1:]
        elif out and math.dist(out[-1], piece[0]) > STEP:
            piece = line(out[-1], piece[0])[1:-1] + piece
        out += piece
    return tuple(out)


def figure_eight(cx: float, cross: float, top_half_width: float, bottom_half_width: float) -> list[Point]:
    """An 8 in one stroke: from the top right, leftwards over the top loop, through the crossing at height `cross`,
    round the bottom loop and back up to where it began (a lemniscate of Gerono, its two loops sized apart)."""
    t = np.linspace(0.45, 0.45 - 2 * math.pi - 0.3, FINE)
    top = np.cos(t) >= 0
    x = cx + np.where(top, top_half_width, bottom_half_width) * np.sin(2 * t)
    y = cross - np.where(top, cross, 1 - cross) * np.cos(t)
    return _spaced(np.stack([x, y], axis=1))


# The styles ----------------------------------------------------------------------------------------------------


def _styles() -> dict[str, Style]:
    """Every style by name, its digit first in the name."""

    def style(digit: int, *strokes: Polyline) -> Style:
        return Style(digit, strokes)

    top_of_two = arc(0.3, 0.27, 0.27, 0.25, 200, 380)  # from the upper left, over the top, to the right
    seven_top = line((0.02, 0.02), (0.6, 0.02))
    seven_down = bezier((0.6, 0.02), (0.45, 0.35), (0.28, 0.7), (0.22, 1.0))
    nine_loop = arc(0.28, 0.27, 0.26, 0.26, -30, -390)  # counter-clockwise, from the upper right back to it
    five_down = line((0.12, 0.01), (0.086, 0.51))
    five_belly = arc(0.3, 0.69, 0.28, 0.28, 220, 510)  # up over the top, round the right, ending lower left
    flag_one = line((0.08, 0.24), (0.3, 0.0), (0.27, 1.0))
    return {
        "0_oval": style(0, stroke(arc(0.3, 0.5, 0.28, 0.48, 280, -90))),
        "0_round": style(0, stroke(arc(0.36, 0.5, 0.36, 0.47, 300, 675))),
        "1_stick": style(1, stroke(line((0.3, 0.0), (0.27, 1.0)))),
        "1_flag": style(1, stroke(flag_one)),
        "1_flag_base": style(1, stroke(flag_one), stroke(line((0.04, 1.0), (0.52, 0.99)))),
        "2_plain": style(
            2,
            stroke(
                top_of_two,
                bezier((0.554, 0.356), (0.52, 0.52), (0.25, 0.75), (0.02, 0.98)),
                line((0.02, 0.98), (0.62, 0.97)),
            ),
        ),
        "2_looped": style(
            2,
            stroke(
                top_of_two,
                bezier((0.554, 0.356), (0.52, 0.55), (0.32, 0.72), (0.16, 0.98)),
                arc(0.15, 0.86, 0.13, 0.12, 90, 415),
                bezier((0.225, 0.958), (0.33, 1.0), (0.48, 0.98), (0.64, 0.95)),
            ),
        ),
        "3_round": style(3, stroke(arc(0.3, 0.25, 0.26, 0.23, 205, 470), arc(0.3, 0.73, 0.29, 0.26, 250, 505))),
        "3_flat_top": style(
            3, stroke(line((0.04, 0.02), (0.56, 0.02), (0.22, 0.42)), arc(0.3, 0.7, 0.3, 0.29, 250, 505))
        ),
        "4_open": style(
            4, stroke(line((0.1, 0.0), (0.04, 0.62), (0.62, 0.62))), stroke(line((0.47, 0.04), (0.45, 1.0)))
        ),
        "4_closed": style(
            4, stroke(line((0.44, 0.0), (0.0, 0.66), (0.62, 0.66))), stroke(line((0.44, 0.0), (0.44, 1.0)))
        ),
        "5_flag": style(5, stroke(five_down, five_belly), stroke(line((0.12, 0.01), (0.6, -0.01)))),
        "5_one_stroke": style(5, stroke(line((0.6, -0.01), (0.12, 0.01)), five_down, five_belly)),
        "6_one_stroke": style(
            6, stroke(bezier((0.5, 0.0), (0.2, 0.08), (0.03, 0.4), (0.04, 0.72)), arc(0.3, 0.72, 0.26, 0.27, 180, -150))
        ),
        "6_circle_and_stem": style(
            6,
            stroke(bezier((0.52, 0.0), (0.2, 0.06), (0.02, 0.4), (0.04, 0.75))),
            stroke(arc(0.3, 0.73, 0.26, 0.26, 270, -100)),
        ),
        "7_plain": style(7, stroke(seven_top, seven_down)),
        "7_crossed": style(7, stroke(seven_top, seven_down), stroke(line((0.2, 0.53), (0.56, 0.51)))),
        "7_hooked": style(7, stroke(bezier((0.03, 0.3), (-0.01, 0.14), (0.02, 0.02)), seven_top, seven_down)),
        "8_one_stroke": style(8, stroke(figure_eight(0.3, 0.46, 0.22, 0.29))),
        "8_two_circles": style(
            8, stroke(arc(0.3, 0.24, 0.2, 0.23, 300, -65)), stroke(arc(0.3, 0.72, 0.27, 0.27, 280, -85))
        ),
        "9_straight_tail": style(9, stroke(nine_loop, line((0.505, 0.14), (0.5, 1.0)))),
        "9_curved_tail": style(9, stroke(nine_loop, bezier((0.505, 0.14), (0.56, 0.5), (0.5, 0.9), (0.15, 0.97)))),
    }


STYLES: dict[str, Style] = _styles()


# One person's hand ---------------------------------------------------------------------------------------------


def _lengthened(points: np.ndarray, at_end: float) -> np.ndarray:
    """The stroke with its end carried on straight by `at_end` (an overshoot) or cut back by -`at_end`."""
    if at_end >= 0:
        back = points[max(0, len(points) - 4)]
        direction = points[-1] - back
        direction = direction / max(float(np.linalg.norm(direction)), 1e-9)
        count = math.ceil(at_end / STEP)
        steps = np.arange(1, count + 1)[:, None] * (at_end / max(count, 1))
        return np.concatenate([points, points[-1] + steps * direction])
    travelled = np.cumsum(np.linalg.norm(np.diff(points[::-1], axis=0), axis=1))
    cut = int(np.searchsorted(travelled, -at_end))  # points dropped from the end
    return points[: max(2, len(points) - cut)]


def hand(style: Style, rng: np.random.Generator) -> list[np.ndarray]:
    """The style's strokes as one person writes them once, [N, 2] arrays in the unit box: each stroke a little
    longer or shorter at both ends and a little displaced from the others, a smooth wobble over the whole digit
    (a field over the page, so strokes that meet still meet), a width of 0.8-1.2 and a slant of -15..+15 degrees."""
    strokes = []
    for template in style.strokes:
        points = np.array(template, dtype=float)
        start, end = rng.uniform(-0.025, 0.04, 2)
        points = _lengthened(_lengthened(points, end)[::-1], start)[::-1]
        strokes.append(points + (rng.normal(0.0, 0.012, 2) if len(style.strokes) > 1 else 0.0))
    # The wobble: three plane waves per axis, wavelengths 0.7 to 2 digit heights, 0.006-0.014 high each.
    waves = rng.normal(size=(2, 3, 2))
    waves *= 2 * math.pi / rng.uniform(0.7, 2.0, (2, 3, 1)) / np.linalg.norm(waves, axis=2, keepdims=True)
    phases, heights = rng.uniform(0, 2 * math.pi, (2, 3)), rng.uniform(0.006, 0.014, (2, 3))
    width, slant = rng.uniform(0.8, 1.2), math.tan(math.radians(rng.uniform(-15.0, 15.0)))
    out = []
    for points in strokes:
        wobble = (heights[:, None] * np.sin(np.einsum("apk,nk->anp", waves, points) + phases[:, None])).sum(-1)
        x, y = (points + wobble.T).T
        out.append(np.stack([(x - 0.3) * width + slant * (0.5 - y), y], axis=1))  # positive slant leans right
    return out


def place(strokes: list[np.ndarray], rng: np.random.Generator, placement: str, pen_width: float) -> list[np.ndarray]:
    """The strokes moved and scaled onto the canvas (shares of its side) as `placement` says, the whole ink (pen
    width included) inside it with MARGIN to spare."""
    where = PLACEMENTS[placement]
    strokes = [points * (where.squeeze, 1.0) for points in strokes]
    low = np.min([points.min(0) for points in strokes], axis=0)
    extent = np.maximum(np.max([points.max(0) for points in strokes], axis=0) - low, 1e-6)
    ink_height = rng.uniform(*where.height)
    # The pen adds its width to the ink's height; a tiny digit in a broad pen still keeps half its height for lines.
    scale = max(ink_height - pen_width, ink_height / 2) / extent[1]
    scale = min(scale, float(np.min((1 - 2 * MARGIN - pen_width) / extent)))
    box = extent * scale + pen_width  # the ink's width and height
    free = 1 - 2 * MARGIN - box  # room to move the ink box in, along x and y
    if where.where == "centre":
        share = np.clip(0.5 + rng.normal(0.0, 0.04, 2), 0, 1)
    elif where.where == "corner":
        inset = np.minimum(rng.uniform(0.015, 0.06, 2), free) / np.maximum(free, 1e-9)
        share = np.where(rng.integers(0, 2, 2) == 1, 1 - inset, inset)
    else:  # off centre: some way along a random direction, at least 0.6 of the way to an edge along one axis
        direction = rng.uniform(-1, 1, 2)
        share = 0.5 + 0.5 * direction / np.abs(direction).max() * rng.uniform(0.6, 1.0)
    corner = MARGIN + free * share
    return [(points - low) * scale + corner + pen_width / 2 for points in strokes]


# The canvas ----------------------------------------------------------------------------------------------------


def _calls_covering(points: np.ndarray, radius: float, shape: tuple[int, int]) -> np.ndarray:
    """[H * 4, W * 4] uint8: at 4x4 samples a pixel, in how many of a stroke's stroke() calls the path covers each
    sample (0: none; at most 255, beyond which more calls change nothing). The page calls stroke() once at
    pointer-down (a dot) and once after every point, so the path's part up to point k is in the last n - k calls.
    `points` in pixels, x right, y down."""
    f = SUPERSAMPLE
    samples = Image.new("L", (shape[1] * f, shape[0] * f), 0)
    pen = ImageDraw.Draw(samples)
    uv = points * f - 0.5  # Pillow's integer coordinates are sample centres
    r = radius * f - 0.25  # Pillow fills boundary samples too: a quarter sample less a side (areas then within 2 %)
    calls = np.minimum(len(uv) - np.arange(len(uv)), 255).tolist()
    along = np.diff(uv, axis=0)
    lengths = np.maximum(np.hypot(*along.T), 1e-9)
    normals = np.stack([-along[:, 1], along[:, 0]], axis=1) / lengths[:, None]
    # Each segment a quad; where the path turns gently the quads share a mitred edge (a round join's outline to a
    # fraction of a sample), elsewhere they end square and a disc makes the round join.
    bisectors = normals[:-1] + normals[1:]
    cosines = np.einsum("ij,ij->i", bisectors, normals[1:]) / np.maximum(np.hypot(*bisectors.T), 1e-9)
    gentle = cosines > math.cos(math.radians(10))  # a turn under 20 degrees: the mitre reaches 1.5 % past the disc
    mitres = np.where(
        gentle[:, None],
        bisectors / np.maximum(np.hypot(*bisectors.T), 1e-9)[:, None] / np.maximum(cosines, 1e-9)[:, None],
        0.0,
    )
    starts = np.concatenate([normals[:1] * 0, mitres]) * r  # the offset to a segment's edges at its start...
    starts = np.where(np.concatenate([[False], gentle])[:, None], starts, normals * r)
    ends = np.where(
        np.concatenate([gentle, [False]])[:, None], np.concatenate([mitres, normals[-1:] * 0]) * r, normals * r
    )
    corners = np.stack([uv[:-1] + starts, uv[1:] + ends, uv[1:] - ends, uv[:-1] - starts], axis=1)
    quads = corners.reshape(len(corners), 8).tolist()
    discs = np.concatenate([uv - r, uv + r], axis=1).tolist()
    round_join = [True] + (~gentle).tolist() + [True]  # the two caps, and the sharp turns
    # The latest call first, so that each earlier one paints over it: a sample keeps the most calls that cover it.
    for k in range(len(uv) - 1, -1, -1):
        if k > 0 and lengths[k - 1] > 1e-6:
            pen.polygon(quads[k - 1], fill=calls[k])
        if round_join[k]:
            pen.ellipse(discs[k], fill=calls[k])
    return np.asarray(samples)


def _pooled(samples: np.ndarray, combine: np.ufunc) -> np.ndarray:
    """[H * 4, W * 4] -> [H, W]: each pixel's 4x4 samples combined (np.minimum, np.maximum) pairwise, strided."""
    rows = combine(combine(samples[0::4], samples[1::4]), combine(samples[2::4], samples[3::4]))
    return combine(combine(rows[:, 0::4], rows[:, 1::4]), combine(rows[:, 2::4], rows[:, 3::4]))


def _stroked(samples: np.ndarray) -> np.ndarray:
    """[H, W] ink share, from the calls covering each sample (`_calls_covering`): each stroke() call composites
    opaque ink over what is there by its own coverage, so a pixel ends 1 - prod over calls of (1 - coverage)."""
    f = SUPERSAMPLE
    fewest, most = _pooled(samples, np.minimum), _pooled(samples, np.maximum)
    alpha = (fewest > 0).astype(np.float32)  # every sample covered by the last call: fully inked
    rows, cols = np.nonzero((fewest == 0) & (most > 0))
    ordered = np.sort(samples.reshape(len(fewest), f, -1, f)[rows, :, cols, :].reshape(len(rows), f * f), axis=1)
    # ordered[-i] is the number of calls in which at least i of the 16 samples are covered: exactly i in
    # ordered[-i] - ordered[-i - 1] of them, where the call's coverage is i / 16.
    spans = np.diff(ordered.astype(np.int32), axis=1)
    clear = np.log(np.arange(1, f * f) / (f * f))  # log(1 - i / 16) for i = 15 .. 1, the order of spans
    alpha[rows, cols] = 1 - np.exp(spans @ clear)
    return alpha


def render(
    style: Style,
    rng: np.random.Generator,
    placement: str = "centred",
    pen_width: float = 0.08,
    size: int = 280,
    *,
    restroked: bool = True,
) -> np.ndarray:
    """The canvas after the digit is drawn: [size, size] uint8 grey levels (the page's R = G = B). `restroked`:
    the whole path stroked again at every pointer move, as the page does; False paints each stroke once (a page
    that strokes only the newest segment, or any single-pass drawing program), keeping every edge soft."""
    clear = np.ones((size, size), dtype=np.float32)  # the share of the paper that shows through the ink
    radius = pen_width * size / 2
    for points in place(hand(style, rng), rng, placement, pen_width):
        points = points * size
        low = np.clip(np.floor(points.min(0) - radius - 1).astype(int), 0, size)
        high = np.clip(np.ceil(points.max(0) + radius + 1).astype(int), 0, size)
        (x0, y0), (x1, y1) = low, high
        samples = _calls_covering(points - low, radius, (y1 - y0, x1 - x0))
        alpha = _stroked(samples if restroked else np.minimum(samples, 1))
        clear[y0:y1, x0:x1] *= 1 - alpha  # a new path composited over the old ones
    return np.rint(INK + (PAPER - INK) * clear).astype(np.uint8)


def draw(
    style: Style,
    rng: np.random.Generator,
    placement: str = "centred",
    pen_width: float = 0.08,
    size: int = 280,
    *,
    restroked: bool = True,
) -> bytes:
    """The PNG the page's canvas sends for this digit: white opaque canvas, #111 round-capped strokes, anti-aliased."""
    grey = render(style, rng, placement, pen_width, size, restroked=restroked)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG", compress_level=1)  # toBlob's PNG: RGBA, opaque
    return buffer.getvalue()
