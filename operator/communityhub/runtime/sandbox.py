"""Run a command with parts of the filesystem out of its reading (Linux Landlock), for Terraform.

Terraform and its providers run in the operator's container with a customer's credentials, and a credential can
point its cloud's client at a file (a credential configuration's ``credential_source``); the shape checks of
``delivery.policy.credential_env`` refuse such credentials, and this is the second wall: Terraform runs in a
Landlock domain that may read everything but the hidden paths (the operator's ServiceAccount token directory, its
kubeconfig). Landlock is unprivileged (no capability, allowed by the runtimes' default seccomp profiles) and kernel
enforced, and its domain also forbids ptrace of processes outside it, so ``/proc/<operator>/environ``, ``mem`` and
``fd/`` of the operator are out of reach as well.

Only reading is restricted (the rights handled are READ_FILE and READ_DIR): Terraform writes its working
directory, plugin cache and sockets as before. Usage::

    python -m communityhub.runtime.sandbox --hide PATH [--hide PATH ...] -- COMMAND [ARGS ...]

It exits 126 without running COMMAND when the kernel has no Landlock (fail closed: say so, never run open).
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_READ_FILE, _READ_DIR = 1 << 2, 1 << 3
_PR_SET_NO_NEW_PRIVS = 38
#: What a sandboxed process is told when it cannot start (shown in TerraformError's summary).
UNAVAILABLE = "Landlock is not available in this kernel (5.13 or later with landlock in its LSMs)"


class SandboxError(OSError):
    pass


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI, or 0 without Landlock."""
    result = _libc().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(result), 0)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def readable_roots(hidden: Iterable[str], top: str = "/") -> list[str]:
    """The paths to grant reading beneath so that everything is readable but ``hidden`` (resolved): the siblings of
    each hidden path and of each of its ancestors, resolved through symlinks (a link into a hidden path is not
    granted; a link to one of its ancestors is walked like it)."""
    hide = sorted({os.path.realpath(h) for h in hidden})
    roots: list[str] = []
    seen: set[str] = set()

    def walk(directory: str) -> None:
        if directory in seen:
            return
        seen.add(directory)
        try:
            entries = sorted(os.listdir(directory))
        except OSError:
            return
        for entry in entries:
            target = os.path.realpath(os.path.join(directory, entry))
            if any(_inside(target, h) for h in hide):
                continue  # hidden, or a link into what is hidden
            if any(_inside(h, target) for h in hide):
                walk(target)  # an ancestor of something hidden: its other entries only
            else:
                roots.append(target)

    if not any(_inside(h, top) for h in hide):
        roots.append(top)
    else:
        walk(top)
    return sorted({r for root in roots for r in _without_processes(root)})


def _without_processes(root: str) -> list[str]:
    """/proc without its process directories: another process's environ, memory, open files and root are not
    read (its own neither; the system's figures, /proc/cpuinfo, /proc/meminfo, stay readable)."""
    if root == "/":
        return [p for entry in sorted(os.listdir("/")) for p in _without_processes(os.path.join("/", entry))]
    if root != "/proc":
        return [root]
    return [os.path.join("/proc", e) for e in sorted(os.listdir("/proc"))
            if not e.isdigit() and e not in ("self", "thread-self")]


def restrict(hidden: Sequence[str]) -> None:
    """Restrict this process (and what it executes) to reading everything but ``hidden``."""
    if abi_version() < 1:
        raise SandboxError(UNAVAILABLE)
    libc = _libc()
    handled = _READ_FILE | _READ_DIR
    attr = struct.pack("=Q", handled)
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        raise SandboxError(ctypes.get_errno(), f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        for root in readable_roots(hidden):
            try:
                fd = os.open(root, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # gone meanwhile
            try:
                rights = handled if os.path.isdir(root) else _READ_FILE
                rule = struct.pack("=Qi", rights, fd)
                if libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                                ctypes.c_char_p(rule), ctypes.c_uint32(0)) < 0:
                    raise SandboxError(ctypes.get_errno(), f"landlock_add_rule {root}: "
                                                           f"{os.strerror(ctypes.get_errno())}")
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise SandboxError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
            raise SandboxError(ctypes.get_errno(), f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(ruleset)


def command(hidden: Sequence[str], argv: Sequence[str]) -> list[str]:
    """``argv`` run through this module, with ``hidden`` out of its reach."""
    return [sys.executable, "-m", "communityhub.runtime.sandbox",
            *(arg for path in hidden for arg in ("--hide", str(path))), "--", *argv]


def main(args: Sequence[str]) -> int:
    hidden: list[str] = []
    rest = list(args)
    while rest and rest[0] == "--hide" and len(rest) > 1:
        hidden.append(rest[1])
        rest = rest[2:]
    if not rest or rest[0] != "--" or len(rest) < 2:
        print("usage: python -m communityhub.runtime.sandbox --hide PATH ... -- COMMAND [ARGS ...]", file=sys.stderr)
        return 2
    try:
        restrict([h for h in hidden if Path(h).exists()])
    except SandboxError as err:
        print(f"Error: the sandbox cannot start: {err}; set CHUB_TERRAFORM_SANDBOX=false only where Terraform "
              f"may read the operator's credentials", file=sys.stderr)
        return 126
    os.execvp(rest[1], rest[1:])
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
