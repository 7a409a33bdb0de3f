"""A run's output says what the user needs: this takes out what third-party code prints that is not about the run
(Lightning's advertisements for its cloud services, deprecation notices raised inside Lightning about its own use
of torch). Warnings about the user's settings stay."""

from __future__ import annotations

import logging
import warnings

ADVERTISEMENT = "💡 Tip:"  # how Lightning opens its suggestions to install litlogger and litmodels
THIRD_PARTY_DEPRECATIONS = (
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # lightning/pytorch/utilities/_pytree.py on torch >= 2.10
)


class _WithoutAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(ADVERTISEMENT)


def quiet_third_party_output() -> None:
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_WithoutAdvertisements())
    for message in THIRD_PARTY_DEPRECATIONS:
        warnings.filterwarnings("ignore", message=message)
