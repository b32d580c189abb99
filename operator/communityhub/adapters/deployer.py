"""The 2i2c deployer's layout, read as its deployer reads it (``hubctl import deployer``): a cluster's
``cluster.yaml`` names its hubs, each with a wrapper chart (basehub, or daskhub around basehub) and its values
files in helm's order; the chart's ``values.jsonnet`` and any ``.jsonnet`` values file are evaluated with the
deployer's external variables. Encrypted files (``enc-*``) are not readable here: they hold the hubs' secrets,
which a move keeps as Secrets, and are listed as missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from communityhub.delivery import render
from communityhub.migration import importer, stack

#: The JupyterHub chart's values inside each wrapper chart's.
JUPYTERHUB_KEYS = {"basehub": ("jupyterhub",), "daskhub": ("basehub", "jupyterhub")}


#: One hub as the deployer deploys it (the importer's input).
HubSource = importer.Source


def _jsonnet(path: Path, ext_vars: dict[str, str]) -> dict[str, Any]:
    import _jsonnet  # the jsonnet package (C++ core): the deployer's evaluator

    return json.loads(_jsonnet.evaluate_file(str(path.resolve()), jpathdir=[str(path.resolve().parent)],
                                             ext_vars=ext_vars))


def _load(path: Path, ext_vars: dict[str, str]) -> dict[str, Any]:
    if path.suffix == ".jsonnet":
        return _jsonnet(path, ext_vars)
    return yaml.safe_load(path.read_text()) or {}


def read_cluster(cluster_dir: Path, charts_dir: Path) -> list[HubSource]:
    """Every hub of one cluster folder (``config/clusters/<C>``), its values merged as helm merges them."""
    cluster = yaml.safe_load((cluster_dir / "cluster.yaml").read_text())
    # The jsonnet names the users' cloud identity with it: the AWS account, or on GCP the project (its
    # service accounts are <cluster>-<hub>@<project>.iam.gserviceaccount.com).
    account = str((cluster.get("aws") or {}).get("account") or (cluster.get("gcp") or {}).get("project") or "")
    hubs = []
    for hub in cluster.get("hubs") or []:
        chart = hub["helm_chart"]
        ext_vars = {"VARS_2I2C_CLUSTER_NAME": cluster["name"], "VARS_2I2C_HUB_NAME": hub["name"],
                    "VARS_2I2C_HUB_DOMAIN": hub["domain"], "VARS_2I2C_PROVIDER": cluster.get("provider", ""),
                    "VARS_2I2C_ACCOUNT_ID": account}
        layers: list[tuple[str, dict[str, Any]]] = []
        if chart == "daskhub":  # basehub is daskhub's dependency: its values.yaml is the first layer
            layers.append(("basehub/values.yaml",
                           render.nested(_load(charts_dir / "basehub" / "values.yaml", ext_vars), ("basehub",))))
        chart_values = charts_dir / chart / "values.yaml"
        if chart_values.is_file():
            layers.append((f"{chart}/values.yaml", _load(chart_values, ext_vars)))
        layers.append((f"{chart}/values.jsonnet", _jsonnet(charts_dir / chart / "values.jsonnet", ext_vars)))
        files, missing = [], []
        for name in hub.get("helm_chart_values_files") or []:
            path = cluster_dir / name
            if path.is_file():
                layers.append((name, _load(path, ext_vars)))
                files.append(name)
            else:
                missing.append(name)
        wrapper = stack.merged(values for _, values in layers)
        hubs.append(HubSource(cluster=cluster["name"], name=hub["name"], domain=hub["domain"], chart=chart,
                              values=stack.under(wrapper, JUPYTERHUB_KEYS[chart]),
                              files=tuple(files), missing=tuple(missing), layers=tuple(layers),
                              keys=JUPYTERHUB_KEYS[chart]))
    return hubs
