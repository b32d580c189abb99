"""``python -m localcluster up|down|build|status``: the commands behind ``make cluster-up`` and friends."""

from __future__ import annotations

import argparse
import sys
import time

from localcluster import binaries
from localcluster.controlplane import ControlPlane


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("up", "start a control plane (or find it running)"),
                       ("down", "stop the processes it started and remove its state"),
                       ("status", "say whether it runs and where its kubeconfig is")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--name", default="dev", help="control plane name (default: dev)")
    build = sub.add_parser("build", help="build (or find) every pinned binary")
    build.add_argument("binaries", nargs="*", help="default: all but promtool, with terraform from PATH or else "
                                                   "OpenTofu")
    args = parser.parse_args(argv)

    try:
        if args.command == "build":
            # promtool is the tests' alone (make test builds it); tofu only where no terraform is on PATH.
            wanted = args.binaries or [b for t in binaries.TOOLS for b in t.packages if b not in ("tofu", "promtool")]
            for binary, path in binaries.ensure(wanted).items():
                print(f"{binary}: {path}")
            if not args.binaries:
                print(f"terraform: {binaries.terraform()}")
            return 0
        plane = ControlPlane(args.name)
        if args.command == "up":
            started = time.monotonic()
            kubeconfig = plane.up()
            print(f"control plane {args.name!r} ready at {plane.server} in {time.monotonic() - started:.1f}s",
                  file=sys.stderr)
            print(f"export KUBECONFIG={kubeconfig}")
        elif args.command == "down":
            plane.down()
            print(f"control plane {args.name!r} stopped", file=sys.stderr)
        else:
            running = plane.running()
            print(f"{args.name}: {'running' if running else 'not running'}; kubeconfig {plane.kubeconfig}")
            return 0 if running else 1
    except binaries.BinaryUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
