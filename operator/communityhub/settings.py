"""Operator settings, read once from ``CHUB_*`` environment variables (the Helm chart sets them).

Each field ``x`` is read from ``CHUB_X``; docs/operations.md lists them with their meaning.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field


class Settings(BaseModel):
    namespace: str = "communityhub-system"
    chart_repository: str = "https://hub.jupyter.org/helm-chart/"
    chart_name: str = "jupyterhub"
    chart_version: str = "4.1.0"
    helm: str = "helm"
    helm_timeout_seconds: float = Field(default=600, gt=0)
    resync_seconds: float = Field(default=300, gt=0)
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    health_port: int = Field(default=8081, ge=0, le=65535)
    #: terraform or tofu: the operator accepts either.
    terraform: str = "terraform"
    terraform_modules: str = str(Path(__file__).resolve().parents[2] / "terraform" / "modules")
    terraform_workdir: str = str(Path(tempfile.gettempdir()) / "communityhub-terraform")
    terraform_timeout_seconds: float = Field(default=1800, gt=0)
    terraform_concurrency: int = Field(default=4, ge=1)
    #: For `cloud: local` (development and tests): the kubeconfig of the control plane the local module hands back.
    local_cluster_kubeconfig: str = ""
    #: For `cloud: local`: how long the module pretends cluster creation takes.
    local_provision_seconds: int = Field(default=0, ge=0)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {}
        for name in cls.model_fields:
            key = f"CHUB_{name.upper()}"
            if key in env:
                values[name] = env[key]
        return cls.model_validate(values)

    @property
    def chart_is_local(self) -> bool:
        """A chart directory on disk rather than a chart in a repository."""
        return not self.chart_repository and Path(self.chart_name).is_dir()
