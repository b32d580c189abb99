"""Operator settings, read once from ``CHUB_*`` environment variables (the Helm chart sets them).

| variable | meaning | default |
|---|---|---|
| CHUB_NAMESPACE | the operator's own namespace (shared-cluster Secrets, Terraform state) | communityhub-system |
| CHUB_CHART_REPOSITORY | Helm repository URL of the JupyterHub chart; empty for a local chart path | https://hub.jupyter.org/helm-chart/ |
| CHUB_CHART_NAME | chart name in that repository, or a local chart directory | jupyterhub |
| CHUB_CHART_VERSION | chart version when a hub does not pin one | 4.1.0 |
| CHUB_HELM | helm binary | helm |
| CHUB_HELM_TIMEOUT_SECONDS | longest a helm command may run | 600 |
| CHUB_RESYNC_SECONDS | how often every hub is checked for drift | 300 |
| CHUB_METRICS_PORT | Prometheus metrics port (0: off) | 8080 |
| CHUB_HEALTH_PORT | liveness probe port, /healthz (0: off) | 8081 |
"""

from __future__ import annotations

import os
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
