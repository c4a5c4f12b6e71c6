"""Pictures of results (loss curves, report charts): headless matplotlib, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the Agg backend: training and evaluation run without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 100) -> Path:
    """Write fig as a PNG next to path, then move it into place, and close it.

    A reader (a person refreshing loss.png mid-run) never sees a half-written file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    pyplot().close(fig)
    os.replace(tmp, path)
    return path
