"""Keep one command running: start it again when it exits (development tooling, used by ``make demo``).

The operator exits by design when it loses its leader Lease (a control plane restart, a long pause), and a real
Deployment's kubelet starts it again. The demo has no kubelet for it, so this does that job: the child is started
again after each exit, with a back-off of 1 s doubling to 30 s (reset after a minute of running). SIGTERM or SIGINT
stops the child (SIGTERM, then SIGKILL after 15 s) and then the supervisor.

    python -m localcluster.supervise -- COMMAND [ARGS...]
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

MAX_BACKOFF = 30.0
STEADY = 60.0  # a child that ran this long was healthy: the next restart is quick again


def supervise(argv: list[str], backoff: float = 1.0) -> int:
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    delay = backoff
    while not stopping:
        started = time.monotonic()
        child = subprocess.Popen(argv)
        print(f"supervise: started {argv[0]} (pid {child.pid})", flush=True)
        code = child.wait()
        if stopping:
            break
        if time.monotonic() - started > STEADY:
            delay = backoff
        print(f"supervise: {argv[0]} exited ({code}); starting it again in {delay:.0f}s", flush=True)
        deadline = time.monotonic() + delay
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        delay = min(delay * 2, MAX_BACKOFF)
    if child is not None and child.poll() is None:
        child.terminate()
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    return supervise(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
