"""The last step of starting a process pod's container (development tooling, run by ``processpods``).

It runs as root inside the pod's network namespace (``ip netns exec``, which also gives it a private mount
namespace with the pod's ``/etc/hosts``), binds the pod's volumes at their mount paths, becomes the
container's user and replaces itself with the container's command. Standard library only: it is started
with ``python -I`` and must not bring the operator's environment into the container.

A mount path whose parent does not exist is made inside an overlay of its nearest existing ancestor, so
nothing is created on the host's own file system; the overlay's upper layer is in the pod's state folder.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1
CLONE_NEWUTS = 0x04000000
_libc = ctypes.CDLL(None, use_errno=True)


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, stdout=subprocess.DEVNULL)


class Mounter:
    def __init__(self, scratch: Path) -> None:
        # Reached through this descriptor, the scratch folder stays where it is when an overlay covers its path.
        self.scratch = f"/proc/{os.getpid()}/fd/{os.open(scratch, os.O_PATH | os.O_DIRECTORY)}"
        self.overlaid: list[str] = []
        self.volumes: list[str] = []

    @staticmethod
    def _under(path: Path, roots: list[str]) -> bool:
        text = str(path)
        return any(text == r or text.startswith(r.rstrip("/") + "/") for r in roots)

    def _overlay(self, ancestor: Path) -> None:
        if str(ancestor) == "/":
            raise SystemExit("process pods: a mount path needs a new top-level folder, which is not made on the host")
        layer = f"{self.scratch}/overlay-{len(self.overlaid)}"
        for part in ("upper", "work"):
            os.makedirs(f"{layer}/{part}")
        _mount("-t", "overlay", "overlay", "-o", f"lowerdir={ancestor},upperdir={layer}/upper,workdir={layer}/work",
               str(ancestor))
        self.overlaid.append(str(ancestor))

    def mountpoint(self, dst: Path, is_file: bool) -> None:
        """Make ``dst`` to mount on: inside a volume as is, elsewhere in an overlay of its nearest existing
        ancestor."""
        if dst.exists() or dst.is_symlink():
            return
        ancestor = dst.parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not self._under(ancestor, [*self.volumes, *self.overlaid]):
            self._overlay(ancestor)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if is_file:
            dst.touch()
        else:
            dst.mkdir()

    def mount_all(self, mounts: list[dict[str, Any]]) -> None:
        """Overlays first (an overlay made later would hide a bind under it), then the binds, shallow first."""
        ordered = sorted(mounts, key=lambda m: (m["dst"].count("/"), m["dst"]))
        targets = [m["dst"] for m in ordered]
        for m in ordered:
            if not self._under(Path(m["dst"]).parent, targets):  # a mount path inside a volume is made there
                self.mountpoint(Path(m["dst"]), Path(m["src"]).is_file())
        for m in ordered:
            self.mountpoint(Path(m["dst"]), Path(m["src"]).is_file())
            _mount("--bind", m["src"], m["dst"])
            if m["readOnly"]:
                _mount("-o", "remount,bind,ro", m["dst"])
            self.volumes.append(m["dst"])


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    mounter = Mounter(Path(spec["scratch"]))
    mounts = list(spec["mounts"])
    for folder in spec.get("folders", []):  # the image's own writable folders (its HOME) where no volume is
        if not Path(folder["path"]).exists():
            mounts.append({"src": folder["src"], "dst": folder["path"], "readOnly": False})
    mounter.mount_all(mounts)
    for dst, src in spec.get("etc", {}).items():  # the pod's names, again, over any overlay of /etc
        _mount("--bind", src, dst)
    if _libc.unshare(CLONE_NEWUTS) == 0:  # the pod's hostname, as in a cluster
        name = spec["hostname"].encode()
        _libc.sethostname(name, len(name))
    uid, gid, groups = spec["uid"], spec["gid"], spec["groups"]
    if uid != 0:
        # The software lives under root's home (pyenv, the caches); let the container's user walk through it in
        # this namespace only.
        home = Path(os.path.expanduser("~root"))
        if not home.stat().st_mode & 0o001:
            if not mounter._under(home, mounter.overlaid):
                mounter._overlay(home)
            home.chmod(0o711)
    cwd = spec["cwd"]
    if not Path(cwd).exists():
        mounter.mountpoint(Path(cwd), False)
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)
    # Set after the user change (which clears it): the container dies with the agent that started it.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.chdir(cwd)
    os.umask(0o022)
    argv = spec["argv"]
    try:
        os.execvpe(argv[0], argv, spec["env"])
    except OSError as err:
        print(f"process pods: cannot run {argv[0]!r}: {err}", file=sys.stderr, flush=True)
        sys.exit(127)


if __name__ == "__main__":
    main(sys.argv[1])
