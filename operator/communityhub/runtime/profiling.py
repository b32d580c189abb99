"""Where the operator's memory goes, on demand: with ``CHUB_MEMORY_PROFILE`` set, tracemalloc runs from the start
and each SIGUSR1 writes the largest live allocations (by where they were made, a few frames deep) to that file.
Diagnostics only: tracing slows every allocation. ``bench/fleet.py --memory-profile`` uses it."""

from __future__ import annotations

import signal
import tracemalloc
from pathlib import Path
from types import FrameType

FRAMES = 8
TOP = 30


def enable(path: str) -> None:
    tracemalloc.start(FRAMES)

    def dump(_signum: int, _frame: FrameType | None) -> None:
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        stats = snapshot.statistics("traceback")
        total = sum(stat.size for stat in stats)
        lines = [f"traced: {total / 2**20:.1f} MiB in {sum(stat.count for stat in stats)} blocks"]
        for stat in stats[:TOP]:
            lines.append(f"\n{stat.size / 2**20:.2f} MiB in {stat.count} blocks")
            lines += [f"  {frame.filename}:{frame.lineno}" for frame in stat.traceback]
        Path(path).write_text("\n".join(lines) + "\n")

    signal.signal(signal.SIGUSR1, dump)
