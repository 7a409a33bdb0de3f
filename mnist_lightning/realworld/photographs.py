"""An MNIST digit as a phone photo of ink on paper: the kind of picture a user brings to `predict` or the web page.

The digit's grey levels say where the pen went and how much ink it left, and the photo is made in the order
light makes it:

1. ink: the 28x28 digit upsampled smoothly (bicubic, then a Gaussian of half an MNIST pixel, so that strokes are
   round rather than stepped), each grey level taken as a share of its stroke's peak (a pen inks evenly, faint
   MNIST strokes included), put where the camera sees it (roll and perspective are one homography, applied by
   PIL to the digit's own small image only), then given a pen's crisp edge by a soft threshold whose level sets
   the pen's width (Scene.stroke, calibrated against MNIST's own stroke width);
2. sheet: the paper's colour times its texture (blotches at two scales and fibres), mixed with the ink's colour
   by the amount of ink;
3. light: a gradient across the sheet and maybe a soft shadow (a hand, a phone) multiply everything, ink too;
4. camera: defocus blur, sensor noise, a JPEG round trip.

Texture, light and shadow are smooth random fields, made at a quarter of the photo's resolution directly in its
coordinates: the warp that moves the ink would not show on them. For the same reason defocus blurs the ink
alone. Skipping that work keeps a 480 x 640 photo to about 15-20 ms on one core (a 240 x 320 one to about 6).
The sheet fills the whole frame. Everything random comes from the `rng` passed in, so a seed gives the same photo.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageChops, ImageFilter

CANVASES = ("paper", "white", "transparent", "dark")
# Each canvas's own colours, used where the Scene leaves them None.
_GROUND_RGB = {"paper": (236, 232, 222), "white": (255, 255, 255), "transparent": (0, 0, 0), "dark": (40, 46, 43)}
_INK_RGB = {"paper": (30, 45, 125), "white": (20, 20, 20), "transparent": (20, 20, 20), "dark": (226, 226, 216)}
# What people write with, for Scene.random: colour, how often, stroke widths.
_PENS = {
    "blue ballpoint": ((30, 45, 125), 0.4, (0.5, 0.8)),
    "black felt-tip": ((28, 28, 34), 0.3, (0.7, 1.2)),
    "pencil": ((100, 100, 106), 0.15, (0.5, 0.65)),
    "red pen": ((165, 38, 42), 0.05, (0.5, 0.9)),
    "black marker": ((22, 22, 26), 0.1, (1.0, 1.4)),
}
SMOOTH_FACTOR = 4  # the digit is smoothed at 4x (112 x 112); the perspective transform magnifies it the rest
INK_LEVEL = 0.2  # an MNIST pixel above this (0-1) is ink, for the ink's bounding box (its height, its extent)
PEAK_FLOOR = 0.4  # grey levels are shares of the stroke's nearby peak, or of this where the peak is fainter
EDGE_PIXELS = 1.5  # the ink's edge, from none to full, spans about this many photo pixels (a sharp phone photo)
# (stroke width relative to MNIST's, level (share of the peak) whose outline is that wide). MNIST's width is its
# outline at half its grey level; measured on 300 test digits as ink area, against that of MNIST's outline.
_STROKE_LEVELS = (
    (0.5, 0.932),
    (0.6, 0.903),
    (0.7, 0.872),
    (0.8, 0.837),
    (0.9, 0.80),
    (1.0, 0.763),
    (1.1, 0.72),
    (1.2, 0.68),
    (1.3, 0.63),
    (1.4, 0.57),
)
STROKES = (0.5, 1.4)  # thinner, 4 % of digits break somewhere (a faint MNIST stroke); thicker, strokes merge
TEXTURE_AMPLITUDE = 0.035  # paper blotches at grain=1: +-3.5 % brightness (one standard deviation)
NOISE_SIGMA = 7.0  # sensor noise at grain=1, in grey levels (0-255), about a phone photo indoors


@dataclass(frozen=True)
class Scene:
    """How one photo is taken. The defaults are a clean, straight-on, lossless photo; Scene.random draws a typical
    phone photo."""

    frame: tuple[int, int] = (480, 640)  # (height, width) of the photo, in pixels
    digit_height: float = 0.5  # the digit's ink height as a share of the frame's height
    centre: tuple[float, float] = (0.5, 0.5)  # the ink's centre of mass, as shares of (height, width)
    rotate_deg: float = 0.0  # the camera's roll: the digit turns this much counter-clockwise in the photo
    perspective: float = 0.0  # 0 = straight on; ~0.15 = a phone held at a slant (corner displacement, share of frame)
    stroke: float = 1.0  # the pen's width relative to MNIST's strokes: 0.5 a fine ballpoint, 1.4 a marker
    canvas: str = "paper"  # paper: dark ink on light paper; white: opaque, clean; transparent: RGBA; dark: light ink
    paper_rgb: tuple[int, int, int] | None = None  # the ground's colour; None: the canvas's own
    ink_rgb: tuple[int, int, int] | None = None  # the ink's colour; None: the canvas's own
    grain: float = 0.0  # paper texture + sensor noise strength (1 = a grainy indoor phone photo)
    light_gradient: float = 0.0  # brightness falls by this share across the sheet, in a random direction
    shadow: float = 0.0  # a soft shadow darkens part of the sheet by this share
    blur_sigma: float = 0.0  # defocus, in pixels of the photo
    jpeg_quality: int | None = None  # None = lossless

    def __post_init__(self) -> None:
        checks = (
            (min(self.frame) >= 8, "frame must be at least 8 x 8 pixels", self.frame),
            (0 < self.digit_height <= 1, "digit_height must be in (0, 1]", self.digit_height),
            (all(0 <= c <= 1 for c in self.centre), "centre must be shares in [0, 1]", self.centre),
            (0 <= self.perspective <= 0.2, "perspective must be in [0, 0.2] (a steep slant already)", self.perspective),
            (STROKES[0] <= self.stroke <= STROKES[1], f"stroke must be in {list(STROKES)}", self.stroke),
            (self.canvas in CANVASES, f"canvas must be one of {CANVASES}", self.canvas),
            (
                self.grain >= 0 and self.blur_sigma >= 0,
                "grain and blur_sigma must be >= 0",
                (self.grain, self.blur_sigma),
            ),
            (
                0 <= self.light_gradient < 1 and 0 <= self.shadow < 1,
                "light_gradient and shadow must be in [0, 1)",
                (self.light_gradient, self.shadow),
            ),
            (
                self.jpeg_quality is None or 1 <= self.jpeg_quality <= 100,
                "jpeg_quality must be 1-100 or None",
                self.jpeg_quality,
            ),
            (not (self.canvas == "transparent" and self.jpeg_quality), "JPEG cannot hold transparency", self.canvas),
        )
        for ok, rule, value in checks:
            if not ok:
                raise ValueError(f"Scene: {rule}, got {value}.")

    @classmethod
    def random(cls, rng: np.random.Generator, frame: tuple[int, int] = (480, 640)) -> Scene:
        """A typical phone photo of a digit on paper: the digit 8-60 % of the frame's height (log-uniform: small
        digits are as common as large ones), anywhere it fits, rolled within +-15 degrees, at a slant up to 0.15,
        a ballpoint, a felt-tip, a pencil or a marker (stroke 0.5-1.4), grainy, unevenly lit, a shadow one time in
        three, mildly out of focus, JPEG quality 60-95."""
        height = math.exp(rng.uniform(math.log(0.08), math.log(0.6)))
        # Room for the centre; photograph() still clamps it, as rotation and the digit's width are not known here.
        room = (max(0.0, 0.5 - 0.6 * height), max(0.0, 0.5 - 0.5 * height * frame[0] / frame[1]))
        centre = (0.5 + room[0] * rng.uniform(-1, 1), 0.5 + room[1] * rng.uniform(-1, 1))
        names = list(_PENS)
        pen, _, strokes = _PENS[names[rng.choice(len(names), p=[_PENS[n][1] for n in names])]]
        return cls(
            frame=frame,
            digit_height=height,
            centre=centre,
            rotate_deg=rng.uniform(-15, 15),
            perspective=rng.uniform(0, 0.15),
            stroke=rng.uniform(*strokes),
            canvas="paper",
            paper_rgb=_random_paper(rng),
            ink_rgb=_random_ink(pen, rng),
            grain=rng.uniform(0.2, 1.0),
            light_gradient=rng.uniform(0.0, 0.4),
            shadow=rng.uniform(0.15, 0.5) if rng.random() < 1 / 3 else 0.0,
            blur_sigma=rng.uniform(0.0, 1.2) * frame[0] / 480,  # the same defocus looks smaller in a smaller photo
            jpeg_quality=int(rng.integers(60, 96)),
        )


def _random_ink(pen: tuple[int, int, int], rng: np.random.Generator) -> tuple[int, int, int]:
    """The pen's colour, lighter or darker (the same shift on all channels, so a pencil stays grey), a little
    tinted."""
    red, green, blue = (int(c) for c in np.clip(np.array(pen) + rng.uniform(-12, 12) + rng.uniform(-4, 4, 3), 0, 255))
    return red, green, blue


def _random_paper(rng: np.random.Generator) -> tuple[int, int, int]:
    """Printer paper under the camera's white balance (warm or cool, more or less exposed), or a yellow sticky
    note one time in ten."""
    if rng.random() < 0.1:
        base = np.array([250.0, 236.0, 150.0]) + rng.uniform(-10, 5, 3)
    else:
        warmth = rng.uniform(-8, 12)  # >0: tungsten light left in (yellowish); <0: a cool daylight cast
        base = rng.uniform(200, 248) + np.array([warmth, 0.2 * warmth, -warmth]) + rng.uniform(-3, 3, 3)
    red, green, blue = (int(c) for c in np.clip(base, 0, 255))
    return red, green, blue


def photograph(digit: torch.Tensor, scene: Scene, rng: np.random.Generator) -> Image.Image:
    """digit: uint8 [28,28] MNIST image (light ink on black). Returns the photo (RGB, or RGBA for
    canvas='transparent')."""
    pixels = np.asarray(digit.numpy() if isinstance(digit, torch.Tensor) else digit, dtype=np.float32) / 255
    if pixels.shape != (28, 28) or pixels.max() <= INK_LEVEL:
        raise ValueError(f"photograph: a [28, 28] digit with some ink expected, got shape {pixels.shape}.")
    ink = _ink(pixels, scene, rng)
    if scene.canvas == "transparent":
        return _transparent(ink, scene)
    paper, pen = _lit_colours(scene, rng)
    image = Image.composite(pen, paper, ink)  # the ink's colour mixed into the paper's by the amount of ink
    if scene.grain:
        image = _sensor_noise(image, scene.grain, rng)
    return _jpeg(image, scene.jpeg_quality) if scene.jpeg_quality else image


# --- ink and geometry ------------------------------------------------------------------------------------------


def _ink(pixels: np.ndarray, scene: Scene, rng: np.random.Generator) -> Image.Image:
    """The amount of ink at each pixel of the photo (L, 255 = full ink), the camera's geometry and defocus
    applied. Defocus blurs the ink only: the paper's texture and light are smooth already, and sensor noise comes
    after the lens."""
    height, width = scene.frame
    camera = _camera(scene, rng)
    rows = np.nonzero(pixels.max(axis=1) > INK_LEVEL)[0]
    cols = np.nonzero(pixels.max(axis=0) > INK_LEVEL)[0]
    ink_box = np.array(
        [[cols[0], rows[0]], [cols[-1] + 1, rows[0]], [cols[-1] + 1, rows[-1] + 1], [cols[0], rows[-1] + 1]], np.float64
    )  # in MNIST pixels, continuous coordinates
    grid = np.arange(28) + 0.5  # pixel centres
    mass = np.array([(pixels.sum(axis=0) * grid).sum(), (pixels.sum(axis=1) * grid).sum()]) / pixels.sum()
    ink_height = rows[-1] + 1 - rows[0]
    to_photo = _place(camera, mass, ink_box, ink_height, scene)  # MNIST pixel coordinates -> photo pixels
    photo_per_mnist = scene.digit_height * height / ink_height
    upsample = int(min(SMOOTH_FACTOR, max(1, math.ceil(photo_per_mnist))))
    big = _smooth_digit(pixels, upsample)
    # The photo's box around the digit's whole 28x28 square, with room for the blur: only that much is resampled.
    square = _apply(to_photo, np.array([[0, 0], [28, 0], [28, 28], [0, 28]], np.float64))
    pad = 2 + math.ceil(3 * scene.blur_sigma)
    x0, y0 = np.clip(np.floor(square.min(axis=0)).astype(int) - pad, 0, [width, height])
    x1, y1 = np.clip(np.ceil(square.max(axis=0)).astype(int) + pad, 0, [width, height])
    ink = Image.new("L", (width, height), 0)
    if x1 <= x0 or y1 <= y0:
        return ink
    # PIL's PERSPECTIVE maps each output pixel to the input: crop pixels -> photo -> MNIST -> the upsampled digit.
    crop_to_big = np.diag([upsample, upsample, 1.0]) @ np.linalg.inv(to_photo) @ _shift(x0, y0)
    coeffs = (crop_to_big / crop_to_big[2, 2]).ravel()[:8]
    crop = big.transform(
        (int(x1 - x0), int(y1 - y0)), Image.Transform.PERSPECTIVE, tuple(coeffs), resample=Image.Resampling.BICUBIC
    )
    crop = crop.point(_edge_lut(scene.stroke, photo_per_mnist))  # the pen's crisp edge, at the photo's resolution
    if scene.blur_sigma:
        crop = crop.filter(ImageFilter.GaussianBlur(scene.blur_sigma))
    ink.paste(crop, (int(x0), int(y0)))
    return ink


def _smooth_digit(pixels: np.ndarray, factor: int) -> Image.Image:
    """The digit `factor` times larger (L), each pixel's grey level as a share of the stroke's peak nearby.

    Bicubic, then a Gaussian of half an MNIST pixel that rounds off the 28x28 grid's steps, so that the stroke's
    outline is a smooth curve however far it is magnified. Dividing by the nearby peak (the largest value within a
    quarter of an MNIST pixel, smoothed as much) makes MNIST's faint strokes as strong as its firm ones: a pen lays
    the same ink all along, and a thin pen's high threshold does not break a faint stroke into pieces. A wider
    peak would break more: a thin MNIST stroke's ridge rises and falls with the 28x28 grid."""
    small = Image.fromarray(np.clip(pixels * 255 + 0.5, 0, 255).astype(np.uint8))
    big = small
    if factor > 1:
        big = small.resize((28 * factor, 28 * factor), Image.Resampling.BICUBIC)
        big = big.filter(ImageFilter.GaussianBlur(0.5 * factor))
    grey = np.asarray(big)
    peak = Image.fromarray(_dilate(grey, max(1, round(factor / 4)))).filter(ImageFilter.GaussianBlur(factor / 4))
    # The floor keeps MNIST's faint specks (peaks below it) from becoming strokes.
    share = grey.astype(np.float32) / np.maximum(np.asarray(peak, np.float32), PEAK_FLOOR * 255)
    return Image.fromarray(np.clip(share * 255 + 0.5, 0, 255).astype(np.uint8))


def _dilate(grey: np.ndarray, radius: int) -> np.ndarray:
    """The largest value within `radius` pixels (a square), as separable sliding maxima."""
    padded = np.pad(grey, radius, mode="edge")
    rows = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1, axis=0).max(axis=-1)
    return np.lib.stride_tricks.sliding_window_view(rows, 2 * radius + 1, axis=1).max(axis=-1)


def _edge_lut(stroke: float, photo_per_mnist: float) -> list[int]:
    """256-entry table: grey level (a share of the stroke's peak) -> amount of ink. A smoothstep (a soft threshold:
    MNIST's blurry stroke becomes a pen's crisp one, with no kink where ink starts) centred on the level whose
    outline is `stroke` times as wide as MNIST's, about EDGE_PIXELS photo pixels wide: the share rises by about 1
    per MNIST pixel across a stroke's edge, so a small digit needs a wider band of levels not to be jagged. Where
    the band reaches past 1, a thin stroke never gets full ink: in a small photo a thin line is a faint one."""
    centre = float(np.interp(stroke, [width for width, _ in _STROKE_LEVELS], [level for _, level in _STROKE_LEVELS]))
    softness = min(0.35, max(0.05, EDGE_PIXELS / 2 / photo_per_mnist))
    lo, hi = centre - softness, centre + softness
    ramp = np.clip((np.arange(256) / 255 - lo) / (hi - lo), 0, 1)
    return [int(v) for v in np.round(255 * ramp * ramp * (3 - 2 * ramp))]


def _camera(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """3x3 homography from the sheet (laid flat, frame-sized) to the photo: a keystone (the phone tilted towards a
    random direction, so the sheet's far side looks narrower), then the roll about the frame's centre."""
    height, width = scene.frame
    size = np.array([width, height], np.float64)
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64) - 0.5  # shares of the frame, centred
    angle = rng.uniform(0, 2 * math.pi)
    towards = np.array([math.cos(angle), math.sin(angle)])
    along = corners @ towards
    across = corners - along[:, None] * towards
    tilted = (corners - 4 * scene.perspective * along[:, None] * across) * size  # axis-aligned: displaced by p
    roll = math.radians(scene.rotate_deg)
    turn = np.array([[math.cos(roll), math.sin(roll)], [-math.sin(roll), math.cos(roll)]])  # y points down
    return _homography((corners + 0.5) * size, tilted @ turn.T + size / 2)


def _place(camera: np.ndarray, mass: np.ndarray, ink_box: np.ndarray, ink_height: int, scene: Scene) -> np.ndarray:
    """3x3 homography from MNIST pixel coordinates to the photo: the digit's centre of mass lands on
    scene.centre, its ink is digit_height of the frame tall there, and the whole ink box stays inside the frame
    (the centre moves as little as needed; a digit too large for the frame is centred, and cut)."""
    height, width = scene.frame
    size = np.array([width, height], np.float64)
    margin = 2 + 2 * scene.blur_sigma  # pixels between the ink and the frame's edge, so the blur is not cut
    wanted = np.array(scene.centre[::-1], np.float64) * size  # (x, y)
    uncamera = np.linalg.inv(camera)
    target = wanted
    for _ in range(8):  # perspective changes the digit's extent with its place: place, measure, clamp again
        on_sheet = _apply(uncamera, target[None])[0]
        stretch = math.sqrt(abs(np.linalg.det(_jacobian(camera, on_sheet))))
        scale = scene.digit_height * height / (ink_height * stretch)  # sheet pixels per MNIST pixel
        to_photo = camera @ _shift(*on_sheet) @ np.diag([scale, scale, 1.0]) @ _shift(*-mass)
        box = _apply(to_photo, ink_box)
        lowest, highest = margin - (box.min(axis=0) - target), size - margin - (box.max(axis=0) - target)
        clamped = np.where(lowest <= highest, np.clip(wanted, lowest, highest), (lowest + highest) / 2)
        if np.abs(clamped - target).max() < 0.05:
            break
        target = clamped
    square = np.c_[np.array([[0, 0], [28, 0], [28, 28], [0, 28]]), np.ones(4)] @ to_photo.T
    if (square[:, 2] <= 0).any():  # a homography's horizon: beyond it the digit would come back upside down
        raise ValueError(
            f"Scene: a digit {scene.digit_height} of the frame tall at perspective {scene.perspective} "
            "reaches the horizon; make it smaller or the slant gentler."
        )
    return to_photo


def _homography(source: np.ndarray, destination: np.ndarray) -> np.ndarray:
    """3x3 matrix mapping the four source points onto the four destination points ([4, 2] arrays)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(source, destination):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    return np.append(np.linalg.solve(np.array(rows), np.array(rhs)), 1.0).reshape(3, 3)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """[N, 2] points mapped by a 3x3 homography."""
    mapped = np.c_[points, np.ones(len(points))] @ matrix.T
    return mapped[:, :2] / mapped[:, 2:]


def _jacobian(matrix: np.ndarray, point: np.ndarray) -> np.ndarray:
    """2x2 derivative of a homography at a point (central differences)."""
    steps = np.eye(2)
    return np.stack(
        [(_apply(matrix, (point + s)[None])[0] - _apply(matrix, (point - s)[None])[0]) / 2 for s in steps], axis=1
    )


def _shift(x: float, y: float) -> np.ndarray:
    return np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], np.float64)


# --- paper, light, camera ----------------------------------------------------------------------------------------


def _lit_colours(scene: Scene, rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """(paper, pen): RGB images of the frame's size, the paper's colour with its texture and the pen's colour, both
    under the scene's light. Made at a quarter of the resolution and upsampled: every field in them is smooth."""
    height, width = scene.frame
    small = (max(2, -(-height // 4)), max(2, -(-width // 4)))
    ground = np.array(scene.paper_rgb or _GROUND_RGB[scene.canvas], np.float32)
    pen = np.array(scene.ink_rgb or _INK_RGB[scene.canvas], np.float32)
    light = _light(scene, rng, small)
    textured = scene.grain and scene.canvas != "white"  # a clean white canvas is a drawing program's, not paper
    paper = _texture(scene, rng, small)[..., None] * ground if textured else np.broadcast_to(ground, (*small, 3))
    if light is not None:
        lit_pen = _full_size(light[..., None] * pen, scene.frame, Image.Resampling.BILINEAR)  # light alone: smooth
        return _full_size(paper * light[..., None], scene.frame), lit_pen
    plain_pen = Image.new("RGB", (width, height), tuple(int(c) for c in pen))
    if not textured:
        return Image.new("RGB", (width, height), tuple(int(c) for c in ground)), plain_pen
    return _full_size(paper, scene.frame), plain_pen


def _full_size(field: np.ndarray, frame: tuple[int, int], resample=Image.Resampling.BICUBIC) -> Image.Image:
    """An RGB image of `frame` (height, width) from a smooth [h, w, 3] field of grey levels."""
    small = Image.fromarray(np.clip(field + 0.5, 0, 255).astype(np.uint8))
    return small.resize(frame[::-1], resample)


def _texture(scene: Scene, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """`shape` float32 around 1: the paper's blotches (cells a sixth and a fortieth of the frame's height) and
    fibres (one per pixel of `shape`, a quarter of the photo's resolution)."""
    field = 0.35 * rng.standard_normal(shape, dtype=np.float32)
    for cells, weight in ((6, 0.7), (40, 0.5)):
        coarse = (cells + 2, round(cells * shape[1] / shape[0]) + 2)
        field += weight * _resize(rng.standard_normal(coarse, dtype=np.float32), shape)
    return 1 + (TEXTURE_AMPLITUDE * scene.grain) * field


def _light(scene: Scene, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray | None:
    """`shape` float32 in (0, 1]: how much light reaches each point, or None for even light. A linear fall of
    light_gradient across the frame in a random direction, times a soft-edged elliptic shadow of a hand or a phone
    reaching in from a random side."""
    if not scene.light_gradient and not scene.shadow:
        return None
    height, width = scene.frame
    y, x = np.meshgrid(np.linspace(-0.5, 0.5, shape[0]), np.linspace(-0.5, 0.5, shape[1]), indexing="ij")
    x = x * (width / height)  # square units: a circle is round in the photo
    angle = rng.uniform(0, 2 * math.pi)
    along = x * math.cos(angle) + y * math.sin(angle)
    light = 1 - scene.light_gradient * (along - along.min()) / max(np.ptp(along), 1e-9)
    if scene.shadow:
        side = rng.uniform(0, 2 * math.pi)  # the shadow's centre lies near the frame's edge, towards `side`
        cx, cy = 0.55 * x.max() * 2 * math.cos(side), 0.55 * math.sin(side)
        rx, ry = rng.uniform(0.3, 0.7, 2) * np.array([width / height, 1.0])
        tilt = rng.uniform(0, math.pi)
        u = ((x - cx) * math.cos(tilt) + (y - cy) * math.sin(tilt)) / rx
        v = (-(x - cx) * math.sin(tilt) + (y - cy) * math.cos(tilt)) / ry
        softness = rng.uniform(0.1, 0.3)  # the penumbra's width, as a share of the shadow's size
        inside = 1 / (1 + np.exp(-(1 - np.sqrt(u * u + v * v)) / softness))
        light = light * (1 - scene.shadow * inside)
    return light.astype(np.float32)


def _resize(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A float32 [h, w] field resized (bicubic) to `shape` (height, width)."""
    return np.asarray(Image.fromarray(field).resize(shape[::-1], Image.Resampling.BICUBIC), np.float32)


def _sensor_noise(image: Image.Image, grain: float, rng: np.random.Generator) -> Image.Image:
    """Gaussian noise of NOISE_SIGMA x grain grey levels, the same on all three channels (a phone's processing
    removes most colour noise and leaves brightness noise). Random bytes through a table of the normal
    distribution's quantiles: as good as Gaussian here, and several times faster than drawing normals."""
    quantiles = _NORMAL_QUANTILES * (NOISE_SIGMA * grain)
    table = [int(q) for q in np.clip(np.round(128 + quantiles), 0, 255)]
    noise = Image.frombytes("L", image.size, rng.bytes(image.width * image.height)).point(table)
    return ImageChops.add(image, Image.merge("RGB", (noise, noise, noise)), scale=1.0, offset=-128)


def _normal_quantiles() -> np.ndarray:
    """[256]: the standard normal distribution's quantiles at the middles of 256 equal slices of probability."""
    p = (np.arange(256) + 0.5) / 256
    return np.sqrt(2) * np.array([_inverse_erf(2 * q - 1) for q in p])


def _inverse_erf(y: float) -> float:
    """erf^-1(y) by Newton's method (the standard library has erf but not its inverse)."""
    x = 0.0
    for _ in range(60):
        x -= (math.erf(x) - y) / (2 / math.sqrt(math.pi) * math.exp(-x * x))
    return x


_NORMAL_QUANTILES = _normal_quantiles()


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    """The image after a JPEG round trip at `quality` (4:2:0 chroma subsampling, as phones save)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    decoded = Image.open(io.BytesIO(buffer.getvalue()))
    decoded.load()
    return decoded


def _transparent(ink: Image.Image, scene: Scene) -> Image.Image:
    """A drawing app's export: the ink's colour where there is ink, alpha = amount of ink, elsewhere (0, 0, 0, 0)
    as a browser's canvas writes it. Only geometry and blur apply: there is no paper to light or texture."""
    colour = Image.new("RGB", ink.size, scene.ink_rgb or _INK_RGB["transparent"])
    image = Image.composite(colour, Image.new("RGB", ink.size, 0), ink.point([0] + [255] * 255))
    image.putalpha(ink)
    return image
