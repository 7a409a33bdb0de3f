"""What a command prints when the user's input is the problem: one message that names the setting or file and
the fix, no traceback, exit status 2. A real bug keeps its traceback; HYDRA_FULL_ERROR=1 shows the full one."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from hydra.errors import InstantiationException

from mnist_lightning.data.idx_files import IdxDataError

PACKAGE = Path(__file__).resolve().parent
HYDRA = Path(sys.modules[InstantiationException.__module__].__file__ or "").resolve().parent
USAGE_EXIT = 2  # as argparse and most command-line tools: the command was asked for something it cannot do
# The kinds of error this package raises for a bad setting, a missing or unreadable file, a failed run the user can
# mend (a NaN loss), missing data or a missing optional package. Raised elsewhere (inside numpy or torch), the same
# kinds are bugs.
USER_ERRORS = (ValueError, OSError, FloatingPointError, IdxDataError, ModuleNotFoundError)


def innermost_frame_file(traceback: TracebackType | None) -> Path | None:
    if traceback is None:
        return None
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return Path(traceback.tb_frame.f_code.co_filename).resolve()


def user_error(err: BaseException) -> str | None:
    """The message to show for `err` when it is the user's mistake, else None (a bug: keep the traceback).

    Hydra wraps an error raised while it builds a part (a model, a trainer) in one InstantiationException per
    level of nesting; the cause inside is what went wrong. A setting the part does not take (a TypeError raised
    by the call itself) is Hydra's message, which names the setting."""
    wrapper = None
    while isinstance(err, InstantiationException) and err.__cause__ is not None:
        wrapper, err = err, err.__cause__
    raised_at = innermost_frame_file(err.__traceback__)
    if raised_at is None:
        return None
    if isinstance(err, USER_ERRORS) and raised_at.is_relative_to(PACKAGE):
        return str(err)
    if wrapper is not None and isinstance(err, TypeError) and raised_at.is_relative_to(HYDRA):
        target = str(wrapper).split("'")[1] if str(wrapper).count("'") >= 2 else "a part"
        return f"{err}, building {target}. Check that setting's spelling: `--cfg job` prints the settings."
    return None


def reported(main: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps a command's task function (under @hydra.main): a user's mistake is printed as one message on stderr
    and the command exits with USAGE_EXIT; anything else propagates to Hydra with its traceback."""

    @functools.wraps(main)
    def command(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except Exception as err:
            message = user_error(err)
            if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"Error: {message}", file=sys.stderr)
            sys.exit(USAGE_EXIT)

    return command
