"""Leader election on a coordination.k8s.io Lease, so two replicas never both act.

Kopf's peering only pauses operators that see each other; it is not a lock. Here a replica takes
the Lease before Kopf starts (a standby waits), renews it from a thread of its own (a busy event loop
cannot make it miss a renewal), and exits the moment it cannot confirm it still holds it, as
client-go's leader election does: Kubernetes restarts it as a standby. A clean shutdown releases the
Lease, so the standby takes over at once; a killed leader's Lease expires after ``lease_seconds``.

The decision is pure (:func:`decide`); the Lease is read and written with resourceVersion checks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from lightkube import ApiError, Client
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

#: Seconds between attempts of a standby.
RETRY_SECONDS = 2.0


def identity() -> str:
    """Who holds the Lease: the pod's name (the chart sets POD_NAME) or the host, and this process."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


@dataclasses.dataclass(frozen=True)
class Decision:
    take: bool
    why: str


def decide(holder: str | None, renewed: dt.datetime | None, duration: float, me: str, now: dt.datetime) -> Decision:
    """May ``me`` take (or keep) the Lease held by ``holder``, last renewed at ``renewed``?"""
    if not holder:
        return Decision(True, "the lease is free")
    if holder == me:
        return Decision(True, "held by this replica")
    if renewed is None or now - renewed > dt.timedelta(seconds=duration):
        return Decision(True, f"{holder} did not renew for {duration:.0f}s")
    return Decision(False, f"held by {holder}")


def held(spec: LeaseSpec | None, me: str, default_seconds: float, now: dt.datetime) -> bool:
    """Does someone other than ``me`` hold the Lease now (renewed within its duration)?"""
    spec = spec or LeaseSpec()
    return not decide(spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds or default_seconds, me,
                      now).take


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass
class LeaderElection:
    client: Client
    namespace: str
    name: str
    lease_seconds: float = 15.0
    renew_seconds: float = 5.0
    me: str = dataclasses.field(default_factory=identity)
    #: structlog's logger method in the operator: an event and its fields.
    log: Callable[..., Any] = lambda event, **fields: print(event, fields)
    #: Leases that must be free before this one is taken (kept once taken): a shard's waits for the Lease of the
    #: unsharded operator it replaces, which serves every hub until it stops.
    after: tuple[str, ...] = ()
    _waiting_for: str | None = dataclasses.field(default=None, repr=False)

    def _spec(self, transitions: int, acquired: dt.datetime | None) -> LeaseSpec:
        now = _now()
        return LeaseSpec(holderIdentity=self.me, leaseDurationSeconds=int(self.lease_seconds),
                         acquireTime=acquired or now, renewTime=now, leaseTransitions=transitions)

    def try_acquire(self) -> bool:
        """One attempt: True when this replica holds the Lease afterwards."""
        try:
            lease = self.client.get(Lease, self.name, namespace=self.namespace)
        except ApiError as err:
            if err.status.code != 404:
                raise
            if self._held_before():
                return False
            try:
                self.client.create(Lease(metadata=ObjectMeta(name=self.name, namespace=self.namespace),
                                         spec=self._spec(0, None)))
                self.log("leadership acquired", reason="a new lease", lease=f"{self.namespace}/{self.name}")
                return True
            except ApiError as conflict:
                if conflict.status.code == 409:
                    return False  # another replica created it first
                raise
        spec = lease.spec or LeaseSpec()
        decision = decide(spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds or self.lease_seconds,
                          self.me, _now())
        if not decision.take:
            return False
        mine = spec.holderIdentity == self.me
        if not mine and self._held_before():
            return False
        lease.spec = self._spec((spec.leaseTransitions or 0) + (0 if mine else 1),
                                spec.acquireTime if mine else None)
        try:
            self.client.replace(lease)  # carries the resourceVersion just read: a race loses with 409
        except ApiError as err:
            if err.status.code == 409:
                return False
            raise
        if not mine:
            self.log("leadership acquired", reason=decision.why, lease=f"{self.namespace}/{self.name}")
        return True

    def _held_before(self) -> str | None:
        """The first Lease of ``after`` someone else holds now, if any (said once in the log)."""
        for name in self.after:
            try:
                spec = self.client.get(Lease, name, namespace=self.namespace).spec
            except ApiError as err:
                if err.status.code == 404:
                    continue
                raise
            if held(spec, self.me, self.lease_seconds, _now()):
                if self._waiting_for != name:
                    self.log("standing by: the operator this one replaces still leads",
                             lease=f"{self.namespace}/{name}", holder=spec.holderIdentity if spec else None)
                self._waiting_for = name
                return name
        self._waiting_for = None
        return None

    def acquire(self) -> None:
        """Block until this replica leads."""
        waiting_logged = False
        while True:
            try:
                if self.try_acquire():
                    return
            except (ApiError, OSError) as err:
                self.log("leader election: cannot read the lease", error=str(err))
            if not waiting_logged:
                self.log("standing by: another replica leads", lease=f"{self.namespace}/{self.name}")
                waiting_logged = True
            time.sleep(RETRY_SECONDS)

    def keep(self, lost: Callable[[], None]) -> threading.Thread:
        """Renew in a daemon thread; call ``lost`` once the Lease cannot be confirmed within its duration."""
        def renew() -> None:
            confirmed = time.monotonic()
            while True:
                time.sleep(self.renew_seconds)
                try:
                    if self.try_acquire():
                        confirmed = time.monotonic()
                        continue
                    self.log("leadership lost: another replica holds the lease")
                except Exception as err:  # the API server is out of reach: keep trying until the deadline
                    self.log("leader election: renewal failed", error=str(err))
                    if time.monotonic() - confirmed < self.lease_seconds - self.renew_seconds:
                        continue
                lost()
                return
        thread = threading.Thread(target=renew, name="leader-election", daemon=True)
        thread.start()
        return thread

    def release(self) -> None:
        """Hand the Lease back on a clean shutdown, so a standby need not wait for it to expire."""
        try:
            lease = self.client.get(Lease, self.name, namespace=self.namespace)
            if lease.spec and lease.spec.holderIdentity == self.me:
                lease.spec.holderIdentity = None
                lease.spec.renewTime = None
                self.client.replace(lease)
        except (ApiError, OSError) as err:
            self.log("leader election: could not release the lease", error=str(err))


class StandbyHealth:
    """``/healthz`` while a standby waits for the Lease: Kopf serves it only once it runs, and a liveness probe
    that found nothing would restart a healthy standby every few minutes. Stopped before Kopf binds the port."""

    def __init__(self, port: int) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path.split("?")[0] == "/healthz"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"standby\n" if found else b"")

            def log_message(self, *_: object) -> None:  # probes every few seconds: not worth a log line
                pass

        self.server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
        threading.Thread(target=self.server.serve_forever, name="standby-health", daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
