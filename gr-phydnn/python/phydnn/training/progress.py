"""Progress bars for long work: tqdm on a terminal, quiet one-line summaries in CI/logs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

__all__ = ["progress"]


def progress(iterable: Iterable[Any], total: int | None = None, desc: str = "",
             disable: bool = False, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr; redrawn rarely when stderr is not a terminal (logs stay short).

    Set PHYDNN_PROGRESS=0 to silence bars entirely.
    """
    disable = disable or os.environ.get("PHYDNN_PROGRESS", "1") == "0"
    interval = 0.1 if sys.stderr.isatty() else 30.0
    return tqdm(iterable, total=total, desc=desc, disable=disable, mininterval=interval,
                leave=False, dynamic_ncols=True, **kwargs)
