"""Every pinned version lives in hack/versions.env (tools) and hack/requirements.lock (Python packages); what
else names a version must agree with them."""

from __future__ import annotations

import importlib.metadata
import re

import pytest
import yaml

from communityhub.runtime.settings import Settings
from localcluster import binaries, charts
from localcluster.versions import PINNED
from tests.conftest import OPERATOR_CHART, REPO
from tests.integration.test_image import lock, normalize

MODULES = {"helm": ("helm.sh/helm/v3", "HELM_VERSION"),
           "opentofu": ("github.com/opentofu/opentofu", "OPENTOFU_VERSION"),
           "etcd": ("go.etcd.io/etcd/server/v3", "ETCD_VERSION"), "kwok": ("sigs.k8s.io/kwok", "KWOK_VERSION"),
           "kubernetes": ("k8s.io/kubernetes", "KUBERNETES_VERSION"),
           "prometheus": ("github.com/prometheus/prometheus", "PROMETHEUS_VERSION")}


def test_the_dockerfile_defaults_are_the_pins() -> None:
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", (REPO / "Dockerfile").read_text(), re.MULTILINE))
    for key in ("DEBIAN_SUITE", "PYTHON_VERSION", "GO_VERSION", "HELM_VERSION", "OPENTOFU_VERSION"):
        assert args[key] == PINNED[key], key
    # make image passes exactly these (hack/image/build.sh)
    build = (REPO / "hack" / "image" / "build.sh").read_text()
    assert "for key in DEBIAN_SUITE PYTHON_VERSION GO_VERSION HELM_VERSION OPENTOFU_VERSION" in build


@pytest.mark.parametrize("tool", sorted(MODULES))
def test_the_go_wrapper_modules_require_the_pins(tool: str) -> None:
    module, key = MODULES[tool]
    text = (REPO / "hack" / "tools" / tool / "go.mod").read_text()
    assert re.search(rf"^require {re.escape(module)} {re.escape(PINNED[key])}$", text, re.MULTILINE), tool
    assert re.search(rf"^go {re.escape(PINNED['GO_VERSION'])}(\.\d+)?$", text, re.MULTILINE)


def test_the_local_binaries_and_the_hub_chart_are_the_pins() -> None:
    versions = {tool.name: tool.version for tool in binaries.TOOLS}
    assert versions["helm"] == PINNED["HELM_VERSION"] and versions["opentofu"] == PINNED["OPENTOFU_VERSION"]
    assert versions["kubernetes"] == versions["kubectl"] == PINNED["KUBERNETES_VERSION"]
    assert charts.VERSION == PINNED["JUPYTERHUB_CHART_VERSION"] == Settings().chart_version
    values = yaml.safe_load((OPERATOR_CHART / "values.yaml").read_text())
    assert values["settings"]["chartVersion"] == PINNED["JUPYTERHUB_CHART_VERSION"]


def test_the_development_venv_has_the_locked_packages() -> None:
    """make venv installs with the lock as constraints: what the image runs is what the tests ran."""
    installed = {normalize(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    pinned = lock()
    shared = {name: installed[name] for name in pinned if name in installed}
    assert shared == {name: pinned[name] for name in shared}
    for runtime in ("kopf", "pydantic", "lightkube", "structlog", "jinja2", "pyyaml", "prometheus-client"):
        assert runtime in pinned  # the operator's own dependencies are all locked
