"""``hubctl``: the billing reader. It lists the CommunityHubs of the current kubeconfig and turns the
operator's annotations into invoices and network KPIs (the logic is :mod:`communityhub.money.billing`).

    hubctl billing invoices --month 2026-11 [-o table|json|yaml|csv] [--out DIR] [--strict]
    hubctl kpis [-o table|json|yaml|csv]
    hubctl guards [--all] [-o table|json|yaml|csv]
    hubctl terraform-root NAME [-n NAMESPACE | -f MANIFEST] --out DIR
    hubctl plan DIR... [--snapshot FILE] [-o table|json|markdown]

As kubectl: the current context's namespace, ``-n NAMESPACE`` or ``-A`` for all; the result on standard
output (a table by default); files only with ``--out`` (invoices-<month>.csv and .json there).

A hub that was not metered yet (or whose cost figure is unreadable) is billed its fees, with its cloud cost
pending and the reason on the line; a hub whose fee cannot be read is listed and left out. Exit status: 0,
or with ``--strict`` 1 when anything is pending or left out; 2 on bad arguments or when the cluster cannot
be read.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from lightkube import Client
from lightkube.resources.core_v1 import ConfigMap

from communityhub.adapters import deployer, hubconfig
from communityhub.adapters.kube import HUB
from communityhub.api.models import CommunityHubSpec, HubClassSpec
from communityhub.delivery import classes, cluster_inputs, components, names, policy, render
from communityhub.fleet import plan, report
from communityhub.migration import compare, equivalence, importer, stack
from communityhub.money import billing, cost
from communityhub.runtime.settings import Settings
from communityhub.steps import meter

FORMATS = ("table", "json", "yaml", "csv")


def list_hubs(namespace: str | None, all_namespaces: bool = False) -> list[dict[str, Any]]:
    """As kubectl: ``-A`` every namespace, ``-n`` that one, else the current context's."""
    client = Client(field_manager="hubctl")
    where = "*" if all_namespaces else (namespace or client.namespace)
    return [hub.to_dict() for hub in client.list(HUB, namespace=where)]


def _csv(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def invoices_csv(result: billing.Invoices) -> str:
    fields = ["month", *(f.name for f in dataclasses.fields(billing.Line))]
    return _csv([{"month": result.month, **dataclasses.asdict(line)} for line in result.lines], fields)


def write_invoices(result: billing.Invoices, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out / f"invoices-{result.month}.json", out / f"invoices-{result.month}.csv"
    json_path.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    csv_path.write_text(invoices_csv(result))
    return json_path, csv_path


def render_invoices(result: billing.Invoices, output: str) -> str:
    """The invoices as ``-o`` asks; the table is what a person reads at a glance (pending amounts say so)."""
    if output == "json":
        return json.dumps(result.to_json(), indent=2)
    if output == "yaml":
        return yaml.safe_dump(result.to_json(), sort_keys=False, allow_unicode=True).rstrip()
    if output == "csv":
        return invoices_csv(result).rstrip()
    rows = [(line.hub, line.invoice, line.item, "pending" if line.pending else f"{line.amount_usd:.2f}", line.note)
            for line in result.lines]
    text = [_table(rows, ["HUB", "INVOICE", "ITEM", "USD", "NOTE"]) if rows else f"no invoice lines for {result.month}",
            "", f"setup total {result.total('setup'):.2f} USD, monthly total {result.total('monthly'):.2f} USD"
            + (f" (+ {len(result.pending)} pending)" if result.pending else "")]
    text += [f"not billed: {entry['hub']}: {entry['reason']}" for entry in result.not_billed]
    return "\n".join(text)


def _table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def cmd_invoices(args: argparse.Namespace) -> int:
    result = billing.invoices(list_hubs(args.namespace, args.all_namespaces), args.month)
    print(render_invoices(result, args.output))
    if args.out:
        json_path, csv_path = write_invoices(result, Path(args.out))
        print(f"wrote {csv_path} and {json_path}", file=sys.stderr)
    for line in result.pending:
        print(f"pending: {line.hub}: {line.item}: {line.note.removeprefix('pending: ')}", file=sys.stderr)
    for entry in result.errors:
        print(f"error: {entry['hub']}: {entry['error']}", file=sys.stderr)
    return 1 if args.strict and (result.errors or result.pending) else 0


def render_kpis(figures: dict[str, Any], output: str) -> str:
    if output == "json":
        return json.dumps(figures, indent=2)
    if output == "yaml":
        return yaml.safe_dump(figures, sort_keys=False, allow_unicode=True).rstrip()
    if output == "csv":
        return _csv(figures["hubs"], ["hub", "community", "weeklyActiveUsers", "monthlyActiveUsers",
                                      "observedAt"]).rstrip()
    return "\n".join([
        _table([(r["hub"], r["community"], r["weeklyActiveUsers"], r["monthlyActiveUsers"], r["observedAt"])
                for r in figures["hubs"]], ["HUB", "COMMUNITY", "WAU", "MAU", "OBSERVED AT"]), "",
        f"communities: {figures['communities']} "
        f"(historically marginalized: {figures['historicallyMarginalizedCommunities']})",
        f"weekly active users: {figures['weeklyActiveUsers']}, "
        f"monthly active users: {figures['monthlyActiveUsers']} (summed over hubs)"])


def cmd_kpis(args: argparse.Namespace) -> int:
    figures = billing.kpis(list_hubs(args.namespace, args.all_namespaces))
    print(render_kpis(figures, "json" if args.json else args.output))
    for entry in figures["errors"]:
        print(f"error: {entry['hub']}: {entry['error']}", file=sys.stderr)
    return 1 if args.strict and figures["errors"] else 0


GUARD_FIELDS = ["hub", "guard", "status", "reason", "attention", "since", "message"]


def _structured(found: Any, output: str) -> str | None:
    """``-o json`` and ``-o yaml`` of what a command found (None for the other formats, each command's own)."""
    if output == "json":
        return json.dumps(found, indent=2)
    if output == "yaml":
        return yaml.safe_dump(found, sort_keys=False, allow_unicode=True).rstrip()
    return None


def render_guards(found: list[dict[str, str]], output: str) -> str:
    if (text := _structured(found, output)) is not None:
        return text
    if output == "csv":
        return _csv(found, GUARD_FIELDS).rstrip()
    if not found:
        return "no hub past contract, idle, over budget or closed"
    return _table([(r["hub"], r["attention"] or r["reason"], r["since"], r["message"]) for r in found],
                  ["HUB", "ATTENTION", "SINCE", "MESSAGE"])


def cmd_guards(args: argparse.Namespace) -> int:
    found = report.rows(list_hubs(args.namespace, args.all_namespaces), everything=args.all)
    print(render_guards(found, args.output))
    return 1 if args.strict and any(r["attention"] for r in found) else 0


def read_ledger(hub: str, operator_namespace: str) -> tuple[dict[str, Any], str]:
    """The cost ledger of the cluster a hub (``namespace/name``) runs on, and the hub's owner key in it."""
    namespace, _, name = hub.partition("/")
    if not namespace or not name:
        raise ValueError(f"--hub is namespace/name, not {hub!r}")
    client = Client(field_manager="hubctl")
    obj = client.get(HUB, name, namespace=namespace).to_dict()
    cluster = ((obj.get("status") or {}).get("cluster") or {}).get("name")
    if not cluster:
        raise ValueError(f"CommunityHub {hub} has not been placed on a cluster yet: it has no cost")
    cm = client.get(ConfigMap, meter.ledger_name(cluster), namespace=operator_namespace)
    return json.loads((cm.data or {}).get(meter.LEDGER_KEY) or "{}"), f"{namespace}/{name}"


def render_user_costs(found: dict[str, Any], output: str) -> str:
    key = "group" if found["by"] == "group" else "user"
    if (text := _structured(found, output)) is not None:
        return text
    rows = [{key: r[key], "usd": f"{r['usd']:.2f}"} for r in found["rows"]]
    rows += [{key: "(overhead)", "usd": f"{found['overheadUSD']:.2f}"}, {key: "(hub)", "usd": f"{found['hubUSD']:.2f}"}]
    if output == "csv":
        return _csv(rows, [key, "usd"]).rstrip()
    return _table([(r[key], r["usd"]) for r in rows], [key.upper(), "USD"]) + \
        f"\n{found['hub']}, {found['month']}: users and overhead add up to the hub's cloud cost"


def cmd_billing_users(args: argparse.Namespace) -> int:
    try:
        ledger, owner = read_ledger(args.hub, args.operator_namespace)
        found = billing.user_costs(ledger, owner, args.month, by=args.by)
    except ValueError as err:
        print(f"hubctl: {err}", file=sys.stderr)
        return 2
    print(render_user_costs(found, args.output))
    return 0


def render_homes(found: list[dict[str, Any]], output: str) -> str:
    if (text := _structured(found, output)) is not None:
        return text
    if output == "csv":
        return _csv([{**r, "overQuota": " ".join(r["overQuota"]), "nearQuota": " ".join(r["nearQuota"])}
                     for r in found], report.HOMES_FIELDS).rstrip()
    if not found:
        return "no hub with a user at or near their home quota, or a home disk nearly full"
    return _table([(r["hub"], r["homes"] if r["homes"] is not None else "?", r["usedGiB"] if r["usedGiB"] is not None
                    else "?", " ".join(r["overQuota"]) or "-", " ".join(r["nearQuota"]) or "-", r["diskUsed"] or "?",
                    r["storage"]) for r in found],
                  ["HUB", "HOMES", "USED GIB", "AT QUOTA", "NEAR QUOTA", "DISK", "HOME STORAGE"])


def cmd_homes(args: argparse.Namespace) -> int:
    found = report.homes_rows(list_hubs(args.namespace, args.all_namespaces), everything=args.all)
    print(render_homes(found, args.output))
    return 1 if args.strict and found else 0


#: Planning a dumped root on a workstation: local state instead of the operator's kubernetes backend.
LOCAL_BACKEND = 'terraform {\n  backend "local" {}\n}\n'


def cmd_terraform_root(args: argparse.Namespace) -> int:
    """The Terraform root the operator would run for a dedicated hub, written out with the variables it would
    pass (its settings from CHUB_* in this environment), for an engineer with a cloud account to plan."""
    if args.file:
        doc = next(d for d in yaml.safe_load_all(Path(args.file).read_text()) if d and d.get("kind") == "CommunityHub")
        namespace = doc["metadata"].get("namespace") or args.namespace or "default"
    else:
        client = Client(field_manager="hubctl")
        namespace = args.namespace or client.namespace
        doc = client.get(HUB, args.name, namespace=namespace).to_dict()
    name = doc["metadata"]["name"]
    spec = CommunityHubSpec.model_validate(doc["spec"])
    dedicated = spec.placement.dedicated
    if dedicated is None:
        print(f"hubctl: {namespace}/{name} is not a dedicated hub: it has no Terraform root", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    extra, missing = cluster_inputs.extra_from_settings(dedicated, settings)
    if missing:
        print(f"hubctl: the {dedicated.cloud} module needs {', '.join(missing)}", file=sys.stderr)
        return 2
    hub_names = names.resolve(namespace, name, doc.get("status") or {})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    module = cluster_inputs.module_dir(Path(settings.terraform_modules).resolve(), dedicated.cloud)
    (out / "main.tf").write_text(cluster_inputs.ROOT_MODULE % {"source": module})
    (out / "backend_override.tf").write_text(LOCAL_BACKEND)
    variables = cluster_inputs.variables(spec, namespace, name, hub_names.cluster_stem, extra)
    (out / "terraform.tfvars.json").write_text(json.dumps(variables, indent=2) + "\n")
    keys = " ".join(policy.CREDENTIAL_KEYS[dedicated.cloud])
    print(f"wrote {out}/main.tf, backend_override.tf and terraform.tfvars.json ({dedicated.cloud}: {module})\n"
          f"with the cloud's credentials in the environment ({keys}):\n"
          f"  cd {out} && terraform init && terraform plan")
    return 0


def _user(text: str) -> dict[str, Any]:
    """NAME, NAME:admin, or NAME:group1,group2 (a test user of the comparison)."""
    name, _, rest = text.partition(":")
    groups = [g for g in rest.split(",") if g and g != "admin"]
    return {"name": name, "admin": "admin" in rest.split(","), "groups": groups}


def _source_values(args: argparse.Namespace) -> dict[str, Any]:
    """What the JupyterHub chart receives today: a deployer hub's stack, or values files in helm's order."""
    if args.deployer:
        hubs = {h.name: h for h in deployer.read_cluster(Path(args.deployer), Path(args.charts))}
        if args.hub not in hubs:
            raise SystemExit(f"hubctl: no hub {args.hub!r} in {args.deployer} (it has: {', '.join(hubs)})")
        return hubs[args.hub].values
    layers = [yaml.safe_load(Path(f).read_text()) or {} for f in args.values]
    merged = stack.merged(layers)
    return stack.under(merged, args.wrapper_key.split(".")) if args.wrapper_key else merged


def _hub_values(manifest: Path, class_files: Sequence[str], discovery: str | None) -> dict[str, Any]:
    """The values the operator renders for the manifest's CommunityHub over its HubClass."""
    docs = [d for f in (manifest, *map(Path, class_files)) for d in yaml.safe_load_all(f.read_text()) if d]
    hub = next((d for d in docs if d.get("kind") == "CommunityHub"), None)
    if hub is None:
        raise SystemExit(f"hubctl: {manifest} holds no CommunityHub")
    spec = CommunityHubSpec.model_validate(hub["spec"])
    # The operator's own choice of class (spec.hubClassName, else the default one), over the files' classes.
    resolved = classes.resolve(spec, {d["metadata"]["name"]: classes.index_entry(d)
                                      for d in docs if d.get("kind") == "HubClass"})
    if resolved.missing:
        raise SystemExit(f"hubctl: {classes.not_found_message(str(resolved.name), spec)}")
    chosen = resolved.spec
    endpoints = None
    if discovery:
        document = json.loads(Path(discovery).read_text())
        endpoints = {key: document[key] for key in render.OIDC_ENDPOINTS if key in document}
    namespace, name = hub["metadata"].get("namespace") or "default", hub["metadata"]["name"]
    rendered = render.values(namespace, name, spec, oidc_endpoints=endpoints,
                             class_values=chosen.values if chosen else None, catalog=chosen)
    return components.with_hub_side(rendered, spec, chosen, names.derive(namespace, name))


def render_differences(found: Sequence[compare.Difference], output: str) -> str:
    if output == "json":
        return json.dumps({"differences": [d.as_dict() for d in found]}, indent=2)
    if not found:
        return "no difference: users get the same from both"
    short = [(d.where, d.path, json.dumps(d.source)[:60], json.dumps(d.hub)[:60]) for d in found]
    return _table(short, ("WHERE", "PATH", "TODAY", "COMMUNITYHUB"))


def cmd_compare(args: argparse.Namespace) -> int:
    """What users get today against what they get from a CommunityHub, both read off the real chart's hub
    configuration (adapters/hubconfig.py). Exit 1 when they differ."""
    chart = args.chart or os.environ.get("CHUB_CHART_NAME")
    if not chart or not Path(chart).is_file():
        print("hubctl: --chart names the JupyterHub chart archive (or set CHUB_CHART_NAME)", file=sys.stderr)
        return 2
    users = [_user(u) for u in args.user] or [_user("ann.lee@example.org"), _user("admin-user:admin")]
    try:
        today = hubconfig.probe(_source_values(args), Path(chart), users, fleet=args.deployer is not None)
        moved = hubconfig.probe(_hub_values(Path(args.file), args.classes, args.oidc_discovery), Path(chart), users)
    except hubconfig.ProbeError as err:
        print(f"hubctl: {err}", file=sys.stderr)
        return 2
    found = compare.compare(today, moved)
    print(render_differences(found, args.output))
    return 1 if found else 0


def _import_sources(args: argparse.Namespace) -> list[list[deployer.HubSource]]:
    """The hubs to import, cluster by cluster: a deployer's cluster folders, or one hub's values files."""
    if args.front == "deployer":
        return [deployer.read_cluster(Path(c), Path(args.charts)) for c in args.clusters]
    layers = [(f"base/{Path(f).name}", yaml.safe_load(Path(f).read_text()) or {}) for f in args.base]
    layers += [(Path(f).name, yaml.safe_load(Path(f).read_text()) or {}) for f in args.values]
    keys = tuple(k for k in args.wrapper_key.split(".") if k)
    wrapper = stack.merged(v for _, v in layers)
    return [[deployer.HubSource(cluster=args.cluster, name=args.name, domain=args.domain, chart="jupyterhub",
                                values=stack.under(wrapper, keys), files=tuple(args.values), missing=(),
                                layers=tuple(layers), keys=keys)]]


def _test_users(hub: importer.ImportedHub) -> list[dict[str, Any]]:
    """A user of the hub, its first admin (as it logs in), and, where profiles or sizes are for some groups, a
    member of each such group."""
    admins = hub.manifest["spec"]["hub"].get("adminUsers") or []
    users = [_user("ann.lee@example.org")]
    users += [{"name": admins[0], "admin": True, "groups": []}] if admins else [_user("admin-user:admin")]
    profiles = hub.manifest["spec"]["environment"].get("profiles") or []
    groups = sorted({g for p in profiles for part in (p, *(p.get("sizes") or []))
                     for g in part.get("allowedGroups") or []})
    return users + [{"name": f"member-{i}", "admin": False, "groups": [g]} for i, g in enumerate(groups)]


def _compared(hub: importer.ImportedHub, source: deployer.HubSource, hub_class: dict[str, Any],
              chart: Path, probe: Any = hubconfig.probe) -> list[compare.Difference]:
    """Both sides through the chart's hub configuration, in the fleet's hub software (the class carries the
    fleet's extraConfig, which imports what that image adds)."""
    spec = CommunityHubSpec.model_validate(hub.manifest["spec"])
    catalog = HubClassSpec.model_validate(hub_class["spec"])
    rendered = components.with_hub_side(
        render.values(hub.namespace, hub.name, spec, class_values=catalog.values, catalog=catalog), spec, catalog,
        names.derive(hub.namespace, hub.name))
    users = _test_users(hub)
    today = probe(source.values, chart, users, fleet=True)
    moved = probe(rendered, chart, users, fleet=True)
    return compare.compare(today, moved)


def _write_manifests(out: Path, classes: Sequence[importer.ImportedClass],
                     hubs: Sequence[importer.ImportedHub]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for c in classes:
        header = f"# HubClass of {', '.join(c.hubs)}, written by hubctl import.\n"
        (out / f"class-{c.name}.yaml").write_text(header + yaml.safe_dump(c.manifest, sort_keys=False, width=120))
    for h in hubs:
        docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": h.namespace}}, *h.secrets, h.manifest]
        header = (f"# {h.cluster}/{h.name}, written by hubctl import: fill in each FILL-ME before applying.\n"
                  f"# typed: {str(h.typed).lower()}; lost: {len(h.lost)}; hatches: {len(h.hatches)} (see the report)\n")
        (out / f"{h.cluster}-{h.name}.yaml").write_text(
            header + yaml.safe_dump_all(docs, sort_keys=False, width=120))


def _manifests(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Every YAML document of these files and directories (recursively, *.yaml, *.yml, *.json)."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json")) if path.is_dir() \
            else [path]
    return [doc for f in files for doc in yaml.safe_load_all(f.read_text()) if isinstance(doc, dict)]


def live_objects() -> plan.Objects:
    """What the current kubeconfig's cluster holds of the fleet's kinds."""
    from lightkube.generic_resource import create_global_resource

    from communityhub.api import models

    client = Client(field_manager="hubctl")
    out = plan.Objects()
    for resource, namespaced in ((HUB, True),
                                 (create_global_resource(models.GROUP, models.VERSION, models.HUB_CLASS_KIND,
                                                         models.HUB_CLASS_PLURAL), False),
                                 (create_global_resource(models.GROUP, models.VERSION, models.ROLLOUT_KIND,
                                                         models.ROLLOUT_PLURAL), False)):
        for obj in client.list(resource, namespace="*") if namespaced else client.list(resource):
            out.add(obj.to_dict())
    return out


def cmd_plan(args: argparse.Namespace) -> int:
    """What merging a directory of manifests would do to the fleet. Exit 0: the plan, nothing refused; 1: a hub
    would be refused (a condition False) or a manifest is invalid; 2: bad arguments or the cluster unreadable."""
    try:
        change = plan.objects(_manifests(args.paths))
        before = plan.objects(_manifests([args.snapshot])) if args.snapshot else live_objects()
    except (OSError, yaml.YAMLError) as err:
        print(f"hubctl plan: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # the cluster could not be read (any client error): say so, exit 2
        print(f"hubctl plan: cannot read the cluster ({type(err).__name__}: {err}); or give --snapshot",
              file=sys.stderr)
        return 2
    settings = Settings()
    defaults = plan.Defaults(chart_name=settings.chart_name, chart_version=settings.chart_version,
                             open_value_paths=tuple(settings.hub_values_paths), operator_namespace=settings.namespace)
    result = plan.plan(before, change.over(before), defaults, cost.catalog(settings.price_catalog))
    if args.output == "json":
        print(json.dumps(result, indent=2))
    elif args.output == "markdown":
        print(plan.markdown(result), end="")
    else:
        rows = plan.hubs_table(result)
        print(_table(rows, ["HUB", "CHANGE", "HELM", "VALUES", "CONDITIONS"]) if rows else "no hub is touched")
        for obj in result["objects"]:
            print(f"{obj['kind']} {obj['name']}: {obj['change']}")
    return 1 if plan.refused(result) else 0


def _checkout_tools() -> tuple[str | None, str | None]:
    """In a checkout of the project (its localcluster beside the package): the JupyterHub chart archive the local
    plane uses and the helm it builds, so `hubctl import` compares without --chart (None, None elsewhere)."""
    try:
        from localcluster import binaries, charts
    except ImportError:
        return None, None
    helm = binaries.find("helm")
    try:
        chart = str(charts.jupyterhub_chart().archive)
    except Exception:  # not in ../shared/charts and not pullable here: --chart says which
        chart = None
    return chart, str(helm) if helm else None


def cmd_import(args: argparse.Namespace) -> int:
    """A provider's values stacks into HubClasses and CommunityHubs, with the equivalence report. Exit 1 when a
    hub is not typed (something lost, or carried only through a hatch)."""
    chart = args.chart or os.environ.get("CHUB_CHART_NAME")
    if args.compare and not chart:
        chart, helm = _checkout_tools()
        if helm and not os.environ.get("CHUB_HELM") and not shutil.which("helm"):
            os.environ["CHUB_HELM"] = helm
    if args.compare and (not chart or not Path(chart).is_file()):
        print("hubctl: --chart names the JupyterHub chart archive (or set CHUB_CHART_NAME; a checkout of the project "
              "finds the local plane's); or --no-compare",
              file=sys.stderr)
        return 2
    reports, all_classes, all_hubs = [], [], []
    for sources in _import_sources(args):
        classes, hubs = importer.import_cluster(sources)
        by_name = {s.name: s for s in sources}
        class_docs = {c.name: c.manifest for c in classes}
        for hub in hubs:
            found = None
            if args.compare:
                try:
                    found = _compared(hub, by_name[hub.name], class_docs[hub.hub_class], Path(chart))
                except hubconfig.ProbeError as err:
                    hub.notes.append(f"not compared: {err}")
            reports.append(equivalence.hub_report(hub, found))
        all_classes += classes
        all_hubs += hubs
    if args.output_dir:
        _write_manifests(Path(args.output_dir), all_classes, all_hubs)
    if args.output == "json":
        print(json.dumps({"hubs": reports}, indent=2))
    else:
        rows = [(r["cluster"], r["name"], r["hubClass"],
                 "yes" if r["typed"] else ("but for " + ", ".join(map(str, r["typedButFor"]))
                                           if r["typedButFor"] else "no"),
                 ("yes" if r["sameForUsers"] else "no") if r["compared"] else "not compared", str(len(r["lost"])),
                 str(len(r["hatches"])), str(sum(d["class"] == "lost" for d in r["differences"])))
                for r in reports]
        print(_table(rows, ("CLUSTER", "HUB", "CLASS", "TYPED", "SAME FOR USERS", "LOST", "HATCHES",
                            "DIFFERENCES")))
    return 0 if all(r["typed"] for r in reports) else 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="hubctl", description="Billing and KPIs from CommunityHub annotations.")
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: given after the command they win, else what was given before it (hubctl -n hubs kpis) stays.
    common.add_argument("-n", "--namespace", default=argparse.SUPPRESS,
                        help="this namespace (default: the current context's)")
    common.add_argument("-A", "--all-namespaces", action="store_true", default=argparse.SUPPRESS,
                        help="every namespace")
    common.add_argument("-o", "--output", choices=FORMATS, default="table", help="output format (default: table)")
    common.add_argument("--strict", action="store_true",
                        help="exit 1 when a hub is left out or an amount is pending")
    # Before the command too (hubctl -n hubs kpis), as the first version took it.
    top.add_argument("-n", "--namespace", dest="namespace", default=None, help=argparse.SUPPRESS)
    top.add_argument("-A", "--all-namespaces", dest="all_namespaces", action="store_true", help=argparse.SUPPRESS)
    commands = top.add_subparsers(dest="command", required=True)
    billing_cmd = commands.add_parser("billing", help="invoices").add_subparsers(dest="billing", required=True)
    invoices = billing_cmd.add_parser("invoices", parents=[common],
                                      help="setup and monthly invoices of a month")
    invoices.add_argument("--month", required=True, type=_month, help="YYYY-MM")
    invoices.add_argument("--out", help="also write invoices-<month>.csv and .json into this directory")
    invoices.set_defaults(func=cmd_invoices)
    per_user = billing_cmd.add_parser("users", parents=[common],
                                      help="a hub's cloud cost of a month by user (or by group) and its overhead")
    per_user.add_argument("--hub", required=True, help="the CommunityHub, namespace/name")
    per_user.add_argument("--month", required=True, type=_month, help="YYYY-MM (this month or the one before)")
    per_user.add_argument("--by", choices=("user", "group"), default="user", help="split by user (default) or group")
    per_user.add_argument("--operator-namespace", default=Settings().namespace,
                          help="where the operator keeps its cost ledgers (default: %(default)s)")
    per_user.set_defaults(func=cmd_billing_users)
    kpis = commands.add_parser("kpis", parents=[common], help="network KPIs: communities and active users")
    kpis.add_argument("--json", action="store_true", help="the same as -o json")
    kpis.set_defaults(func=cmd_kpis)
    guards = commands.add_parser("guards", parents=[common],
                                 help="hubs past contract, idle, over budget or closed (from their conditions)")
    guards.add_argument("--all", action="store_true", help="every guard condition, fine ones too")
    guards.set_defaults(func=cmd_guards)
    homes = commands.add_parser("homes", parents=[common],
                                help="users at or near their home quota, and home disks nearly full (status.homes)")
    homes.add_argument("--all", action="store_true", help="every hub with a home server")
    homes.set_defaults(func=cmd_homes)
    root = commands.add_parser("terraform-root", help="write out the Terraform root and variables of a dedicated hub")
    root.add_argument("name", nargs="?", help="the CommunityHub (read from the cluster)")
    root.add_argument("-n", "--namespace", default=argparse.SUPPRESS, help="its namespace")
    root.add_argument("-f", "--file", help="read the CommunityHub from this manifest instead of the cluster")
    root.add_argument("--out", required=True, help="the directory to write into")
    root.set_defaults(func=cmd_terraform_root)
    cmp = commands.add_parser(
        "compare", help="what users get from a hub's values today against its CommunityHub (exit 1: they differ)")
    source = cmp.add_mutually_exclusive_group(required=True)
    source.add_argument("--deployer", help="a cluster folder of the 2i2c deployer's layout (config/clusters/C)")
    source.add_argument("--values", action="append", help="a values file of today's hub, in helm's order (repeat)")
    cmp.add_argument("--hub", help="with --deployer: the hub's name in cluster.yaml")
    cmp.add_argument("--charts", help="with --deployer: the folder of its wrapper charts (helm-charts)")
    cmp.add_argument("--wrapper-key", default="", help="with --values: where a wrapper chart keeps the JupyterHub "
                                                       "chart's values (jupyterhub, basehub.jupyterhub)")
    cmp.add_argument("-f", "--file", required=True, help="the CommunityHub manifest (HubClasses in it count)")
    cmp.add_argument("--classes", action="append", default=[], help="a file of HubClasses (repeat)")
    cmp.add_argument("--chart", help="the JupyterHub chart archive (default: CHUB_CHART_NAME)")
    cmp.add_argument("--user", action="append", default=[],
                     help="a test user: NAME, NAME:admin or NAME:group1,group2 (repeat; default: an e-mail "
                          "login and an admin)")
    cmp.add_argument("--oidc-discovery", help="an OIDC hub's discovery document (JSON), for its endpoints")
    cmp.add_argument("-o", "--output", choices=("table", "json"), default="table")
    cmp.set_defaults(func=cmd_compare)
    pln = commands.add_parser("plan", help="what merging these manifests would do to each hub: helm or not, the "
                                           "values diff, refusals, estimates (exit 1: a hub would be refused)")
    pln.add_argument("paths", nargs="+", help="manifest files or directories (what the pull request holds)")
    pln.add_argument("--snapshot", help="the cluster as `kubectl get communityhubs,hubclasses,fleetrollouts -A "
                                        "-o yaml` saved it (default: read the current kubeconfig's cluster)")
    pln.add_argument("-o", "--output", choices=("table", "json", "markdown"), default="table")
    pln.set_defaults(func=cmd_plan)
    imp = commands.add_parser("import", help="a provider's values stacks into HubClasses and CommunityHubs, with "
                                             "the report of what users would get (exit 1: a hub is not typed)")
    fronts = imp.add_subparsers(dest="front", required=True)
    dep = fronts.add_parser("deployer", help="the 2i2c deployer's layout: config/clusters/<C> folders")
    dep.add_argument("clusters", nargs="+", help="a cluster folder (config/clusters/C; repeat)")
    dep.add_argument("--charts", required=True, help="the folder of its wrapper charts (helm-charts)")
    plain = fronts.add_parser("values", help="one hub's values files: a base layer and its overrides")
    plain.add_argument("--base", action="append", default=[], help="a values file of the provider's base layer "
                                                                  "(the class), in helm's order (repeat)")
    plain.add_argument("--values", action="append", required=True, help="a values file of the hub, in helm's "
                                                                        "order (repeat)")
    plain.add_argument("--name", required=True, help="the hub's name")
    plain.add_argument("--domain", required=True, help="the hub's domain")
    plain.add_argument("--cluster", default="local", help="the cluster it runs on (default: local)")
    plain.add_argument("--wrapper-key", default="", help="where a wrapper chart keeps the JupyterHub chart's values "
                                                        "(jupyterhub, basehub.jupyterhub)")
    for front in (dep, plain):
        front.add_argument("--chart", help="the JupyterHub chart archive (default: CHUB_CHART_NAME)")
        front.add_argument("--no-compare", dest="compare", action="store_false",
                           help="write the manifests and the translation's findings only (no hub is then typed)")
        front.add_argument("--output-dir", help="write the manifests there: one file per hub, one per class")
        front.add_argument("-o", "--output", choices=("table", "json"), default="table")
        front.set_defaults(func=cmd_import)
    return top


def _month(text: str) -> str:
    try:
        billing.month_bounds(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Exception as err:  # the cluster cannot be read: say so in one line, not a traceback
        if type(err).__module__.startswith(("lightkube", "httpx", "ssl")) or isinstance(err, OSError):
            print(f"hubctl: cannot list CommunityHubs: {err}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
