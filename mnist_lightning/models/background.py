"""A classifier's first step on pictures from outside: what is not a pen stroke taken out, before normalization.

A picture fed straight to the network (as MNIST-C feeds its corruptions, or by a caller who skips predict's
preprocessing) may sit on a grey or foggy ground, or carry a bright frame. Those are wider than any pen stroke:
MNIST's strokes are 1.7-3.7 px wide (5th-95th percentile). A grey-level opening (the darkest value in a window,
then the brightest of those) with a window wider than a stroke keeps exactly that wide background; taking it away
(the "white top-hat") leaves the strokes, whose contrast is then stretched so the strongest is 1. On MNIST's own
digits (a black ground, ink reaching 1) it changes a pixel by 6e-5 on average, so training, which sees only
those, skips it. How the window was chosen, and what it does to each suite: docs/robustness.md.
"""

from __future__ import annotations

import torch

from mnist_lightning.morphology import window_max

FAINTEST_INK = 0.05  # a picture whose strokes reach less than this is not stretched further (noise would be)


def check_background_window(window: int) -> None:
    if window != 0 and (window < 3 or window % 2 == 0):
        raise ValueError(
            f"background_window must be 0 (off) or an odd number of pixels >= 3, wider than a pen stroke "
            f"(e.g. 11); got {window}."
        )


def without_background(images: torch.Tensor, window: int) -> torch.Tensor:
    """[B, 1, H, W] pixel/255 -> the same, with everything wider than `window` pixels taken away and the rest
    stretched so that each picture's strongest stroke is 1."""
    background = window_max(-window_max(-images, window), window)  # the opening: the darkest value, then the brightest
    strokes = images - background  # >= 0: an opening never exceeds the picture
    return strokes / strokes.amax(dim=(2, 3), keepdim=True).clamp(min=FAINTEST_INK)
