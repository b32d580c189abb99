"""Operator settings, read once from ``CHUB_*`` environment variables (the Helm chart sets them).

Each field ``x`` is read from ``CHUB_X``; docs/operations.md lists them with their meaning.
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
