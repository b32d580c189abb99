"""Helpers for tests that create CommunityHubs on the real control plane."""

from __future__ import annotations

import base64
import copy
import secrets
import subprocess
import sys
from typing import Any

import yaml

from communityhub.delivery import names
from tests.conftest import OPERATOR_NAMESPACE, REPO, oauth_secret
from tests.support.kube import Cluster, condition, wait_for

SECRET_VALUE = "s3cr3t-value-never-shown"
RUN = secrets.token_hex(2)  # fresh namespaces per run, so a kept cluster can be reused


def ns(base: str) -> str:
    return f"{base}-{RUN}"


def hub_ns(base: str, name: str) -> str:
    return names.derive(ns(base), name).namespace


def domain(name: str, namespace: str) -> str:
    """A test hub's domain: its namespace's too, since a domain is one hub's across the fleet (DomainTaken)."""
    return f"{name}.{namespace}.hubs.example.org"


def hub_manifest(name: str, namespace: str, **spec_overrides: Any) -> dict[str, Any]:
    example = list(yaml.safe_load_all((REPO / "examples" / "climate-lab.yaml").read_text()))[-1]
    hub = copy.deepcopy(example)
    hub["metadata"] = {"name": name, "namespace": namespace}
    hub["spec"]["auth"]["clientSecretRef"] = {"name": f"{name}-oauth"}
    hub["spec"]["hub"]["domain"] = domain(name, namespace)
    for key, value in spec_overrides.items():
        hub["spec"][key] = value
    return hub


def onboard(cluster: Cluster, namespace: str) -> None:
    """Make a namespace a tenant namespace: the operator may read its Secrets (one RoleBinding)."""
    cluster.kubectl("create", "namespace", namespace, check=False)
    cluster.kubectl("-n", namespace, "create", "rolebinding", "communityhub-operator",
                    "--clusterrole=communityhub-operator-tenant",
                    f"--serviceaccount={OPERATOR_NAMESPACE}:communityhub-operator", check=False)


def create_hub(cluster: Cluster, name: str, namespace: str, secret: bool = True, tenant: bool = True,
               **spec: Any) -> dict[str, Any]:
    if tenant:
        onboard(cluster, namespace)
    cluster.kubectl("create", "namespace", namespace, check=False)
    if secret:
        cluster.apply(oauth_secret(f"{name}-oauth", namespace))
    manifest = hub_manifest(name, namespace, **spec)
    cluster.apply(manifest)
    return manifest


def hub(cluster: Cluster, name: str, namespace: str) -> dict[str, Any] | None:
    result: dict[str, Any] | None = cluster.get("communityhub", name, namespace)
    return result


def released_values(cluster: Cluster, hub_namespace: str) -> Any:
    """The values the hub runs with, as the JupyterHub chart hands them to the hub (its `hub` Secret)."""
    secret = cluster.get("secret", "hub", hub_namespace)
    return yaml.safe_load(base64.b64decode(secret["data"]["values.yaml"]))


def wait_condition(cluster: Cluster, name: str, namespace: str, type_: str, status: str,
                   reason: str | None = None, timeout: float = 90) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        c = condition(hub(cluster, name, namespace), type_)
        seen["last"] = c
        if c and c["status"] == status and (reason is None or c["reason"] == reason):
            return c
        return None
    what = f"{namespace}/{name} {type_}={status}{f' ({reason})' if reason else ''}"
    try:
        found: dict[str, Any] = wait_for(check, timeout=timeout, what=what)
    except AssertionError:  # say where the hub was instead: the condition as last seen
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; the condition was "
                             f"{seen.get('last')!r}") from None
    return found


def wait_ready(cluster: Cluster, name: str, namespace: str, timeout: float = 90) -> dict[str, Any]:
    wait_condition(cluster, name, namespace, "Ready", "True", timeout=timeout)
    obj = hub(cluster, name, namespace)
    assert obj is not None
    return obj


def hubctl(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """hubctl as a person runs it, against this plane (its kubeconfig the current one)."""
    return subprocess.run([sys.executable, "-m", "communityhub.cli.hubctl", *args], capture_output=True, text=True,
                          env={"KUBECONFIG": str(cluster.kubeconfig), "PATH": "/usr/bin:/bin"}, timeout=120)

