"""``hubctl import`` (issue 31): a provider's values stacks into HubClasses and CommunityHubs, with what the
move cannot carry named, and the equivalence report that compares what users get on both sides.

The translation's rules are checked on small stacks; the fleet tests run it over every hub of
``../shared/fleet/`` (29 hubs of 11 clusters, unmodified) and compare one hub through the real chart.
"""

from __future__ import annotations

import functools
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from communityhub.adapters import deployer
from communityhub.api.models import CommunityHubSpec, HubClassSpec
from communityhub.cli import hubctl
from communityhub.delivery import policy, render
from communityhub.migration import compare, equivalence, importer
from localcluster import charts
from tests.conftest import REPO
from tests.unit.test_fleet_sources import FLEET, sources

IMPORTED = REPO / "examples" / "fleet" / "imported"


def _hub(name: str, files: list[tuple[str, dict[str, Any]]], chart_values: dict[str, Any] | None = None,
         jsonnet: dict[str, Any] | None = None) -> deployer.HubSource:
    layers = [("basehub/values.yaml", chart_values or {}), ("basehub/values.jsonnet", jsonnet or {}), *files]
    wrapper = importer.stack.merged(v for _, v in layers)
    return deployer.HubSource(cluster="c1", name=name, domain=f"{name}.example.org", chart="basehub",
                              values=importer.stack.under(wrapper, ("jupyterhub",)),
                              files=tuple(n for n, _ in files), missing=(), layers=tuple(layers))


COMMON = {"jupyterhub": {
    "singleuser": {"image": {"name": "quay.io/org/base", "tag": "1"},
                   "storage": {"type": "static", "static": {"pvcName": "home-nfs", "subPath": "{escaped_username}"}},
                   "extraFiles": {"a": {"mountPath": "/etc/a", "stringData": "x"}}},
    "hub": {"config": {"JupyterHub": {"authenticator_class": "github"},
                       "GitHubOAuthenticator": {"allowed_organizations": ["org-a"]}}}}}


def _cluster() -> list[deployer.HubSource]:
    one = {"jupyterhub": {"hub": {"config": {"Authenticator": {"admin_users": ["ann"]}}},
                          "singleuser": {"image": {"name": "quay.io/org/one", "tag": "2"},
                                         "extraEnv": {"SCRATCH": "s3://one/$(JUPYTERHUB_USER)"},
                                         "startTimeout": 900}}}
    small = {"display_name": "Small", "kubespawner_override": {"mem_guarantee": "2G", "mem_limit": "4G",
                                                               "image_pull_policy": "Always"}}
    two = {"jupyterhub": {"singleuser": {"storage": {"extraVolumes": {"b": {"name": "b", "emptyDir": {}}}},
                                         "profileList": [small]}}}
    return [_hub("one", [("common.values.yaml", COMMON), ("one.values.yaml", one)]),
            _hub("two", [("common.values.yaml", COMMON), ("two.values.yaml", two)])]


def test_a_shared_file_is_the_class_and_a_hubs_own_choices_are_typed() -> None:
    classes, hubs = importer.import_cluster(_cluster())
    base = next(c for c in classes if set(c.hubs) == {"one"} or len(c.hubs) == 2)
    assert base.manifest["spec"]["values"]["singleuser"]["extraFiles"]["a"]["mountPath"] == "/etc/a"
    one = next(h for h in hubs if h.name == "one")
    spec = CommunityHubSpec.model_validate(one.manifest["spec"])
    assert spec.environment.image == "quay.io/org/one:2"          # its own image, over the class's
    assert spec.environment.storage.type == "sharedNFS"
    assert spec.environment.storage.home_directory == "escapedUsername"
    assert spec.auth.provider == "github" and spec.auth.github and spec.auth.github.organization == "org-a"
    assert spec.hub.admin_users == ["ann"]
    assert spec.environment.env == {"SCRATCH": "s3://one/$(JUPYTERHUB_USER)"}   # typed, not a hatch
    # singleuser.startTimeout is open to tenants: carried in spec.hub.values, and named as a hatch.
    assert one.manifest["spec"]["hub"]["values"] == {"singleuser": {"startTimeout": 900}}
    assert [(e.path, e.carried) for e in one.hatches] == [("singleuser.startTimeout", "spec.hub.values")]
    assert one.secrets[0]["stringData"] == {"client_id": importer.FILL_ME, "client_secret": importer.FILL_ME}


def test_what_a_tenant_may_not_set_goes_to_a_class_of_the_hubs_own_and_what_cannot_be_said_is_lost() -> None:
    classes, hubs = importer.import_cluster(_cluster())
    two = next(h for h in hubs if h.name == "two")
    own_class = next(c for c in classes if c.name == two.hub_class)
    assert own_class.hubs == ["two"]
    assert own_class.manifest["spec"]["values"]["singleuser"]["storage"]["extraVolumes"]["b"]["name"] == "b"
    # Named by the entry (one volume), not by each of its leaves.
    assert ("singleuser.storage.extraVolumes.b", f"HubClass {two.hub_class}") in {(e.path, e.carried)
                                                                                  for e in two.hatches}
    assert "spec" in two.manifest and not two.typed
    assert [e.feature for e in two.lost] == ["imagePullPolicy"]
    profile = CommunityHubSpec.model_validate(two.manifest["spec"]).environment.profiles[0]
    assert (profile.memory, profile.memory_limit) == ("2G", "4G")
    # The base class nobody uses is not written.
    assert all(c.hubs for c in classes) and {h.hub_class for h in hubs} == {c.name for c in classes}


def test_a_class_of_one_hub_does_not_swallow_the_hubs_own_values() -> None:
    """Only a class of several hubs takes what they all set alike; else every hub would come out typed by
    moving its choices into a class of its own."""
    lone = _hub("lone", [("lone.values.yaml", {"jupyterhub": {"singleuser": {"storage": {"extraVolumes": {
        "b": {"name": "b", "emptyDir": {}}}}}}})], chart_values=COMMON)
    classes, (hub,) = importer.import_cluster([lone])
    assert hub.hatches and not hub.typed
    twins = [_hub(n, [("common.values.yaml", COMMON), (f"{n}.values.yaml", {"jupyterhub": {"custom": {"x": 1}}})])
             for n in ("a", "b")]
    classes, hubs = importer.import_cluster(twins)
    assert len(classes) == 1 and classes[0].manifest["spec"]["values"]["custom"] == {"x": 1}
    assert not any(h.hatches for h in hubs)


def test_the_wrapper_charts_other_parts_are_named_with_the_issue_that_owns_them() -> None:
    hub = _hub("q", [("q.values.yaml", {"jupyterhub-home-nfs": {"enabled": True}, "binderhub-service": {
        "enabled": True}, "nfs": {"pv": {"enabled": True}}, "nodePlaceholder": {"enabled": False, "replicas": 2}})],
               chart_values=COMMON)
    (_, (imported,)) = importer.import_cluster([hub])
    issues = {e.path: e.issue for e in imported.lost}
    # A part the wrapper does not run is no loss; a home server whose homes the import cannot place is, and so is
    # a builder on no pool (why it is not typed, and the part itself, for its issue).
    assert issues == {"jupyterhub-home-nfs.quotaEnforcer.config.QuotaManager.paths": None,
                      "binderhub-service.dockerApi.nodeSelector": None, "binderhub-service.enabled": 33}
    alone = _hub("r", [("r.values.yaml", {"nfs": {"pv": {"enabled": True}}})], chart_values=COMMON)
    (_, (other,)) = importer.import_cluster([alone])
    assert {e.path: e.issue for e in other.lost} == {"nfs.pv": None}


def _home_hub(name: str, disk: str, quota: float, resources: dict[str, Any] | None = None) -> Any:
    server: dict[str, Any] = {"enabled": True, "fullnameOverride": "storage-quota", "eks": {"enabled": True,
                                                                                           "volumeId": disk},
                              "quotaEnforcer": {"config": {"QuotaManager": {"hard_quota": quota,
                                                                            "paths": [f"/export/{name}"]}}},
                              "prometheusExporter": {"enabled": True}}
    if resources:
        server["nfsServer"] = {"resources": resources}
    return _hub(name, [("common.values.yaml", {"jupyterhub": {"singleuser": {"storage": {
        "type": "static", "static": {"pvcName": "home-nfs", "subPath": "{escaped_username}"}}}}}),
        (f"{name}.values.yaml", {HOME: server, "nfs": {"pv": {"enabled": True, "baseShareName": "/",
                                                               "serverIP": "10.0.0.9"}}})], chart_values=COMMON)


HOME = "jupyterhub-home-nfs"


def test_a_home_server_becomes_the_classs_and_each_hubs_quota_and_disk() -> None:
    """Issue 32: the wrapper's jupyterhub-home-nfs is typed: the class runs a home server whose share is each hub's
    name, each hub its quota and its own disk; resources are the class's largest (meant); a disk two hubs share
    is refused to the second (one server exports its whole disk)."""
    hubs = [_home_hub("staging", "vol-1", 1), _home_hub("prod", "vol-2", 20, {"requests": {"memory": "2G"}}),
            _home_hub("again", "vol-2", 5)]
    classes, imported = importer.import_cluster(hubs)
    (home_class,) = [c for c in classes if c.name.endswith("common")] or classes[:1]
    server = home_class.manifest["spec"]["sharedStorage"]["homeServer"]
    assert server["shareDirectory"] == "{hub.name}"
    assert server["values"]["eks"] == {"enabled": True}
    assert server["values"]["nfsServer"]["resources"] == {"requests": {"memory": "2G"}}
    assert "prometheusExporter" not in server["values"]  # the pinned chart does not read it
    by_name = {h.name: h for h in imported}
    staging, prod, again = by_name["staging"], by_name["prod"], by_name["again"]
    assert staging.manifest["spec"]["environment"]["storage"]["quota"] == {"perUser": "1Gi"}
    assert prod.manifest["spec"]["environment"]["storage"]["quota"] == {"perUser": "20Gi"}
    assert staging.manifest["spec"]["placement"]["homeDisk"] == "vol-1"
    assert not [e for e in staging.lost if "home" in e.feature or e.path.startswith(("nfs", HOME))]
    assert {e.feature for e in staging.meant} >= {importer.HOME_RESOURCES_MEANT, importer.HOME_INERT_MEANT}
    assert importer.HOME_RESOURCES_MEANT not in {e.feature for e in prod.meant}
    assert [(e.feature, e.path) for e in again.lost if "disk" in e.feature] == [
        (importer.SHARED_DISK, "jupyterhub-home-nfs.volumeId (also prod's)")]
    assert again.manifest["spec"]["placement"]["homeDisk"] == importer.FILL_ME  # the provider's to fill
    for hub in imported:
        CommunityHubSpec.model_validate(hub.manifest["spec"])


BUILDS_BASE = {"binderhub-service": {
    "enabled": False, "nodeSelector": {"hub.jupyter.org/node-purpose": "core"}, "service": {"port": 8090},
    "config": {"BinderHub": {"base_url": "/services/binder", "use_registry": True, "auth_enabled": True},
               "KubernetesBuildExecutor": {"build_image": "quay.io/jupyterhub/repo2docker:x"}},
    "dockerApi": {"tolerations": [{"key": "hub.jupyter.org_dedicated", "value": "user", "effect": "NoSchedule"},
                                  {"key": "hub.jupyter.org/dedicated", "value": "user", "effect": "NoSchedule"}]}}}


def _builder_hub(name: str, page: dict[str, Any] | None = None) -> Any:
    pool = {"2i2c/hub-name": name, "node.kubernetes.io/instance-type": "r5.xlarge"}
    builder = {"enabled": True, "buildPodsRegistryCredentials": {"server": "https://quay.io", "username": "robot"},
               "config": {"BinderHub": {"image_prefix": f"quay.io/builds/c1-{name}-", **(page or {})},
                          "DockerRegistry": {"url": "https://quay.io", "username": "robot"},
                          "KubernetesBuildExecutor": {"node_selector": pool},
                          "GitHubRepoProvider": {"allowed_specs": ["^org/.*$"]}},
               "dockerApi": {"nodeSelector": pool}}
    option = {"display_name": "Image", "dynamic_image_building": {"enabled": True},
              "unlisted_choice": {"enabled": True}, "choices": {}}
    own = {"binderhub-service": builder, "jupyterhub": {"singleuser": {"profileList": [
        {"display_name": "Build", "slug": "build", "profile_options": {"image": option}}]}}}
    return _hub(name, [("common.values.yaml", COMMON), (f"{name}.values.yaml", own)],
                chart_values=importer.stack.merged([COMMON, BUILDS_BASE]))


def test_a_builder_becomes_the_classs_binder_and_each_hubs_spec_binder() -> None:
    """Issue 33: the wrapper's binderhub-service is typed: the class's registry with the hubs' prefix rule and pool
    rule ({hub.name} where each hub's name is), the chart's other settings as its values; each hub its spec.binder
    and the build choice on its profile. A Binder hub (its page, no login) stays lost, for its issue."""
    classes, imported = importer.import_cluster([_builder_hub("staging"), _builder_hub("prod"),
                                                 _builder_hub("public", {"enable_api_only_mode": False})])
    by_name = {h.name: h for h in imported}
    staging = by_name["staging"]
    (built,) = {c.name: c for c in classes if c.name == staging.hub_class}.values()
    binder = built.manifest["spec"]["binder"]
    assert binder["registry"] == {"server": "https://quay.io", "imagePrefix": "quay.io/builds/c1-{hub.name}-",
                                  "credentialsSecret": importer.BINDER_LOGIN}
    assert binder["buildPool"] == {"nodeSelector": {"2i2c/hub-name": "{hub.name}",
                                                    "node.kubernetes.io/instance-type": "r5.xlarge"},
                                   "taint": "hub.jupyter.org/dedicated=user"}
    build_image = {"build_image": "quay.io/jupyterhub/repo2docker:x"}
    assert binder["values"] == {"config": {"KubernetesBuildExecutor": build_image}}
    spec = staging.manifest["spec"]
    assert spec["binder"] == {"allowedRepositories": ["^org/.*$"]}
    assert spec["environment"]["profiles"][0]["imageBuilding"] is True
    assert not [e for e in staging.lost if e.issue == 33 or "build" in e.feature]
    assert any("binder-registry-login" in n and "robot" in n for n in staging.notes)
    HubClassSpec.model_validate(built.manifest["spec"])
    for hub in (staging, by_name["prod"]):
        CommunityHubSpec.model_validate(hub.manifest["spec"])
    public = by_name["public"]
    assert "binder" not in public.manifest["spec"]
    assert {(e.feature, e.issue) for e in public.lost} >= {(importer.BINDER_LANDING, 33)}


def test_the_inert_home_server_settings_are_read_by_no_template_of_the_pinned_chart() -> None:
    """What the import leaves out as inert must really be so: no key of the chart's schema, values or templates."""
    with tarfile.open(charts.home_nfs_chart()) as archive:
        texts = {m.name: archive.extractfile(m).read().decode() for m in archive.getmembers()  # type: ignore[union-attr]
                 if m.isfile()}
    for path in importer.HOME_INERT:
        for name, text in texts.items():
            if name.endswith((".yaml", ".json", ".tpl", ".txt")):
                assert path[-1] not in text, f"{'.'.join(path)} appears in {name}"


def test_differences_are_classed_meant_or_lost() -> None:
    found = [compare.Difference("server ann/-", "initContainers.block-cloud-metadata.image", "x", None),
             compare.Difference("server ann/-", "image", "a:1", "b:2")]
    rows, lost = equivalence.classify(found)
    assert [r["class"] for r in rows] == ["meant", "lost"] and rows[0]["why"]
    assert [e.path for e in lost] == ["image"]
    (_, (hub,)) = importer.import_cluster([_hub("q", [("q.values.yaml", {})], chart_values=COMMON)])
    assert equivalence.hub_report(hub, None)["typed"] is False          # not compared: never typed
    assert equivalence.hub_report(hub, [])["typed"] is True
    assert equivalence.hub_report(hub, found[1:])["typed"] is False
    # A daskhub's gateway address is meant only where it is the operator's own gateway's.
    gateway = [compare.Difference("server ann/-", "env.DASK_GATEWAY__PROXY_ADDRESS", "gateway://traefik-hub:80", hub)
               for hub in ("gateway://traefik-lab-1a2b-dask:80", "gateway://elsewhere:80")]
    assert [r["class"] for r in equivalence.classify(gateway)[0]] == ["meant", "lost"]


def test_a_hubs_own_files_are_typed_and_reach_the_chart_as_they_were() -> None:
    """singleuser.extraFiles of the hub's own (a tool's default settings, a JupyterLab override) become
    environment.files, rendered back to the same extraFiles; the class's files stay the class's."""
    opencode = {"mountPath": "/etc/opencode-default/opencode.json", "data": {"model": "nrp/kimi",
                                                                             "provider": {"nrp": {"npm": "x"}}}}
    motd = {"mountPath": "/etc/motd", "stringData": "hello", "mode": 0o644}
    own = {"jupyterhub": {"singleuser": {"extraFiles": {"opencode": opencode, "motd": motd,
                                                        "Odd_Key": {"mountPath": "/x", "stringData": "y"}}}}}
    (_, (hub,)) = importer.import_cluster([_hub("q", [("q.values.yaml", own)], chart_values=COMMON)])
    files = hub.manifest["spec"]["environment"]["files"]
    assert files == [{"name": "motd", **motd}, {"name": "opencode", **opencode}]
    # A key that cannot be a typed file's name stays a hatch; the class's file (COMMON's "a") is not the hub's.
    assert [e.path for e in hub.hatches if "extraFiles" in e.path] == ["singleuser.extraFiles.Odd_Key"]
    spec = CommunityHubSpec.model_validate(hub.manifest["spec"])
    rendered = render.values("q", "q", spec)["singleuser"]["extraFiles"]
    assert rendered == {"opencode": opencode, "motd": motd}
    with pytest.raises(ValueError, match="one of them"):
        CommunityHubSpec.model_validate({**hub.manifest["spec"], "environment": {
            **hub.manifest["spec"]["environment"], "files": [{"name": "x", "mountPath": "/x"}]}})


def test_environment_variables_are_typed_plain_strings_and_not_jupyterhubs_own() -> None:
    hub = next(d for d in yaml.safe_load_all((REPO / "examples" / "climate-lab.yaml").read_text())
               if d and d.get("kind") == "CommunityHub")
    hub["spec"]["environment"]["env"] = {"SCRATCH_BUCKET": "s3://b/$(JUPYTERHUB_USER)"}
    parsed = CommunityHubSpec.model_validate(hub["spec"])
    rendered = render.values("ns", "climate-lab", parsed)
    assert rendered["singleuser"]["extraEnv"]["SCRATCH_BUCKET"] == "s3://b/$(JUPYTERHUB_USER)"
    for bad in ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN", "1X", "A-B"):
        hub["spec"]["environment"]["env"] = {bad: "x"}
        with pytest.raises(ValueError, match="env names"):
            CommunityHubSpec.model_validate(hub["spec"])


# ------------------------------------------------------------------------------------------ the fleet
@functools.cache
def _import_fleet() -> tuple[list[importer.ImportedClass], list[importer.ImportedHub]]:
    """The whole fleet imported once for the tests that read it (about 17 s each time)."""
    sources()  # skips where the fleet is absent
    classes, hubs = [], []
    for cluster in sorted((FLEET / "config" / "clusters").iterdir()):
        c, h = importer.import_cluster(deployer.read_cluster(cluster, FLEET / "helm-charts"))
        classes += c
        hubs += h
    return classes, hubs


def _documented_features() -> set[str]:
    """The features docs/api.md's table of what a move cannot type names (its first column, in backticks)."""
    text = (REPO / "docs" / "api.md").read_text()
    section = text.split("### What `hubctl import` cannot type yet", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)`", section, re.M))


def test_every_hub_of_the_fleet_imports_into_manifests_the_api_and_the_policy_accept() -> None:
    classes, hubs = _import_fleet()
    assert len(hubs) == 29 and len({h.cluster for h in hubs}) == 11
    by_name = {c.name: HubClassSpec.model_validate(c.manifest["spec"]) for c in classes}
    for hub in hubs:
        spec = CommunityHubSpec.model_validate(hub.manifest["spec"])
        catalog = by_name[hub.hub_class]
        verdict = policy.environment(spec, catalog)
        assert verdict.status != "False", (hub.cluster, hub.name, verdict)
        assert policy.hub_values(spec.hub.values, catalog.open_value_paths, catalog.ingress_annotations) is None
        # Secrets are placeholders, never a value read from the fleet.
        assert all(set(s["stringData"].values()) == {importer.FILL_ME} for s in hub.secrets)
    # No class makes cluster-wide objects, which the operator could not install (helm refused basehub's
    # PriorityClass on the local plane); what is turned off is named as meant.
    for c in classes:
        scheduling = c.manifest["spec"]["values"].get("scheduling") or {}
        assert not (scheduling.get("podPriority") or {}).get("enabled"), c.name
        assert not (scheduling.get("userScheduler") or {}).get("enabled"), c.name
    assert all("pod priority and user placeholders (a cluster-wide PriorityClass)" in {e.feature for e in h.meant}
               for h in hubs)


def test_every_loss_and_hatch_of_the_fleet_is_named_in_docs_api_md() -> None:
    _, hubs = _import_fleet()
    named = _documented_features()
    left = {e.feature for h in hubs for e in [*h.lost, *h.hatches]}
    assert left <= named, f"not in docs/api.md's table: {sorted(left - named)}"


def test_the_imported_examples_are_what_hubctl_import_writes(tmp_path: Path) -> None:
    """examples/fleet/imported is regenerated by `make fleet-import`; a change to the importer without it
    shows here."""
    classes, hubs = _import_fleet()
    hubctl._write_manifests(tmp_path, classes, hubs)
    written = {p.name: p.read_text() for p in tmp_path.iterdir()}
    kept = {p.name: p.read_text() for p in IMPORTED.glob("*.yaml")}
    assert sorted(written) == sorted(kept), "run `make fleet-import`"
    for name, text in written.items():
        assert kept[name] == text, f"{name} drifted: run `make fleet-import`"


def test_the_report_of_a_real_hub_compares_what_its_users_get(probe: Any) -> None:
    """2i2c/mtu through the chart's hub configuration on both sides: the home, the class's mounts and the
    login agree, and every difference left is classed."""
    cluster = FLEET / "config" / "clusters" / "2i2c"
    sources()
    srcs = deployer.read_cluster(cluster, FLEET / "helm-charts")
    classes, hubs = importer.import_cluster(srcs)
    mtu = next(h for h in hubs if h.name == "mtu")
    hub_class = next(c for c in classes if c.name == mtu.hub_class).manifest
    found = hubctl._compared(mtu, next(s for s in srcs if s.name == "mtu"), hub_class, Path("unused"),
                             probe=lambda values, chart, users, fleet: probe(values, users, fleet=fleet))
    report = equivalence.hub_report(mtu, found)
    # Typed: nothing lost, nothing hatched (its home server is the class's, its group roll-up the operator's).
    assert report["compared"] and report["typed"] and report["sameForUsers"], (report["lost"], report["hatches"])
    paths = {d["path"] for d in report["differences"]}
    assert not any(p.startswith("mounts.") for p in paths), sorted(paths)
    assert "image" not in paths and "offered" not in paths
    assert all(d["class"] in ("meant", "lost") for d in report["differences"])
    json.dumps(report)


def test_a_plain_stack_imports_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`hubctl import values`: a base layer (the class) and a hub's overrides, for a chart without a wrapper."""
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(COMMON["jupyterhub"]))
    hub = tmp_path / "lab.yaml"
    hub.write_text(yaml.safe_dump({"singleuser": {"image": {"name": "quay.io/org/lab", "tag": "3"},
                                                  "extraEnv": {"BUCKET": "gs://lab"}}}))
    out = tmp_path / "out"
    code = hubctl.main(["import", "values", "--base", str(base), "--values", str(hub), "--name", "lab",
                        "--domain", "lab.example.org", "--no-compare", "--output-dir", str(out), "-o", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1  # not compared: never typed
    (entry,) = report["hubs"]
    assert (entry["name"], entry["typed"], entry["compared"], entry["lost"], entry["hatches"]) == \
        ("lab", False, False, [], [])
    written = {p.name for p in out.iterdir()}
    assert written == {"local-lab.yaml", f"class-{entry['hubClass']}.yaml"}
    docs = list(yaml.safe_load_all((out / "local-lab.yaml").read_text()))
    spec = CommunityHubSpec.model_validate(docs[-1]["spec"])
    assert spec.environment.image == "quay.io/org/lab:3" and spec.environment.env == {"BUCKET": "gs://lab"}
    klass = yaml.safe_load((out / f"class-{entry['hubClass']}.yaml").read_text())
    assert klass["spec"]["values"]["singleuser"]["extraFiles"]["a"]["mountPath"] == "/etc/a"


def test_what_the_jsonnet_derives_from_a_hubs_name_is_the_classs_rule_not_a_hatch() -> None:
    """The deployer's jsonnet pins each hub's servers to its own nodes (2i2c/hub-name: <hub>). The class says it
    once (perHubValues, {hub.namespace}); the operator fills in each hub's: no hub carries it as a hatch."""
    hubs = [_hub(n, [("common.values.yaml", COMMON)],
                 jsonnet={"jupyterhub": {"singleuser": {"nodeSelector": {"2i2c/hub-name": n, "pool": "user"}}}})
            for n in ("staging", "prod")]
    (klass,), imported = importer.import_cluster(hubs)
    assert klass.manifest["spec"]["perHubValues"] == {"singleuser": {"nodeSelector": {
        "2i2c/hub-name": "{hub.namespace}"}}}
    assert klass.manifest["spec"]["values"]["singleuser"]["nodeSelector"] == {"pool": "user"}  # the same for both
    assert not any(h.hatches for h in imported)
    catalog = HubClassSpec.model_validate(klass.manifest["spec"])
    for hub in imported:
        spec = CommunityHubSpec.model_validate(hub.manifest["spec"])
        values = render.values(hub.namespace, hub.name, spec, class_values=catalog.values, catalog=catalog)
        assert values["singleuser"]["nodeSelector"] == {"2i2c/hub-name": hub.namespace, "pool": "user"}
    # Only the two placeholders are filled: KubeSpawner's own braces stay.
    assert render.per_hub({"a": ["{hub.name}/{username}"]}, "ns", "lab") == {"a": ["lab/{username}"]}


def test_the_users_cloud_identity_is_the_classs_rule_and_the_operator_makes_its_service_account() -> None:
    """The wrapper annotates a users' ServiceAccount per hub with a role named after it; the class says it once
    (userServiceAccountAnnotations, {hub.name}); the release runs servers as the operator's ServiceAccount."""
    hubs = [_hub(n, [("common.values.yaml", COMMON)], jsonnet={"userServiceAccount": {
        "enabled": True, "annotations": {"eks.amazonaws.com/role-arn": f"arn:aws:iam::1:role/c1-{n}"}}})
            for n in ("staging", "prod")]
    (klass,), imported = importer.import_cluster(hubs)
    assert klass.manifest["spec"]["userServiceAccountAnnotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/c1-{hub.name}"}
    assert not any("cloud identity" in e.feature for h in imported for e in h.lost)
    assert all(any("move step" in n for n in h.notes) for h in imported)
    catalog = HubClassSpec.model_validate(klass.manifest["spec"])
    spec = CommunityHubSpec.model_validate(imported[0].manifest["spec"])
    values = render.values("staging", "staging", spec, class_values=catalog.values, catalog=catalog)
    assert values["singleuser"]["serviceAccountName"] == "user"
    assert render.per_hub(catalog.user_service_account_annotations, "staging", "staging") == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/c1-staging"}
    # Hubs whose identities follow no one rule keep it as a loss.
    hubs[1] = _hub("prod", [("common.values.yaml", COMMON)], jsonnet={"userServiceAccount": {
        "enabled": True, "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/other"}}})
    (klass,), imported = importer.import_cluster(hubs)
    assert "userServiceAccountAnnotations" not in klass.manifest["spec"]
    assert all(any("cloud identity" in e.feature for e in h.lost) for h in imported)


def test_a_hubs_own_mount_of_a_directory_of_the_share_is_a_shared_directory() -> None:
    mounts = {"jupyterhub": {"singleuser": {"storage": {"extraVolumeMounts": {
        "1-public": {"name": "home", "mountPath": "/home/jovyan/shared-public", "subPath": "_shared-public",
                     "readOnly": False},
        "2-other": {"name": "scratch", "mountPath": "/scratch"}}}}}}
    (_, (hub,)) = importer.import_cluster([_hub("q", [("q.values.yaml", mounts)], chart_values=COMMON)])
    spec = CommunityHubSpec.model_validate(hub.manifest["spec"])
    (shared,) = spec.environment.storage.shared_directories
    assert (shared.name, shared.mount_path, shared.read_only, shared.who) == \
        ("shared-public", "/home/jovyan/shared-public", False, "everyone")
    # A mount of another volume is not the share's: carried, and named.
    assert [e.path for e in hub.hatches] == ["singleuser.storage.extraVolumeMounts.2-other"]


def test_a_hubs_own_placeholders_are_meant_with_the_classs_not_carried() -> None:
    """The import turns pod priority and placeholders off in every class (cluster-scoped); a hub's own placeholder
    settings are off with them, so they are no hatch (2i2c staging's replicas: 0 made a class of its own)."""
    scheduling = {"podPriority": {"enabled": True}, "userPlaceholder": {"enabled": True}}
    hub = _hub("s", [("s.values.yaml", {"jupyterhub": {"scheduling": {"userPlaceholder": {"replicas": 0}}}})],
               chart_values={"jupyterhub": {**COMMON["jupyterhub"], "scheduling": scheduling}})
    classes, (imported,) = importer.import_cluster([hub])
    assert imported.hatches == [] and imported.hub_class == classes[0].name
    feature = "pod priority and user placeholders (a cluster-wide PriorityClass)"
    assert (feature, "scheduling.userPlaceholder.replicas") in [(e.feature, e.path) for e in imported.meant]
    assert classes[0].manifest["spec"]["values"]["scheduling"]["userPlaceholder"]["enabled"] is False


def test_the_wrappers_staff_admins_are_each_hubs_and_its_lists_the_classs() -> None:
    """custom.2i2c.add_staff_user_ids_*: two hubs that both turn it on (one by the shared file, one kind each)
    get hub.staffAdmins of their kind, with no hatch; the class lists the staff (staffUsers) and no longer carries
    the switch, which would add the shared file's kind beside a hub's own."""
    chart = {"jupyterhub": {"custom": {"2i2c": {"add_staff_user_ids_to_admin_users": False,
                                                "add_staff_user_ids_of_type": "",
                                                "staff_github_ids": ["ada"], "staff_google_ids": ["ada@x.org"]}}}}
    common = importer.stack.merged([COMMON, {"jupyterhub": {"custom": {"2i2c": {
        "add_staff_user_ids_to_admin_users": True, "add_staff_user_ids_of_type": "google"}}}}])
    research = {"jupyterhub": {"custom": {"2i2c": {"add_staff_user_ids_of_type": "github"}}}}
    hubs = [_hub("advanced", [("common.values.yaml", common)], chart_values=chart),
            _hub("research", [("common.values.yaml", common), ("research.values.yaml", research)],
                 chart_values=chart)]
    (klass,), imported = importer.import_cluster(hubs)
    assert klass.manifest["spec"]["staffUsers"] == {"github": ["ada"], "google": ["ada@x.org"]}
    assert set(klass.manifest["spec"]["values"]["custom"]["2i2c"]) == {"staff_github_ids", "staff_google_ids"}
    kinds = {h.name: h.manifest["spec"]["hub"].get("staffAdmins") for h in imported}
    assert kinds == {"advanced": "google", "research": "github"}
    assert all(not h.hatches and not h.lost for h in imported), [(h.hatches, h.lost) for h in imported]
    spec = CommunityHubSpec.model_validate(imported[1].manifest["spec"])
    values = render.values("research", "research", spec, class_values=klass.manifest["spec"]["values"],
                           catalog=HubClassSpec.model_validate(klass.manifest["spec"]))
    assert values["hub"]["config"]["Authenticator"]["admin_users"] == ["ada"]


def test_a_workshop_that_drops_its_class_mounts_declines_them_in_the_shared_class() -> None:
    """A hub's null over its class's entries (the fleet's workshops drop the shared and admin mounts) is a part the
    class offers to go without, and the hub declines it: it stays in the shared class. Only the entry that is gone
    is declined, not the map it was in. A shared-password login is typed, its passwords a placeholder Secret."""
    mounts = {"jupyterhub": {"custom": {"singleuserAdmin": {"extraVolumeMounts": {
        "a-all": {"name": "home", "mountPath": "/home/jovyan/all"},
        "b-shared": {"name": "home", "mountPath": "/home/jovyan/shared-rw", "subPath": "_shared"}}}}}}
    common = importer.stack.merged([COMMON, mounts])
    workshop = {"jupyterhub": {
        "custom": {"singleuserAdmin": {"extraVolumeMounts": {"a-all": None}}},
        "hub": {"config": {"JupyterHub": {"authenticator_class": "shared-password"},
                           "Authenticator": {"allow_all": True, "manage_groups": False}}},
        "singleuser": {"storage": {"extraVolumes": {"s": {"name": "scratch", "emptyDir": {"sizeLimit": "15Gi"}}},
                                   "extraVolumeMounts": {"s": {"name": "scratch", "mountPath": "/tmp"}}}}}}
    hubs = [_hub("prod", [("common.values.yaml", common), ("prod.values.yaml", {})]),
            _hub("workshop", [("common.values.yaml", common), ("workshop.values.yaml", workshop)])]
    classes, (prod, hub) = importer.import_cluster(hubs)
    (shared,) = classes
    assert hub.hub_class == prod.hub_class == shared.name and not hub.hatches, hub.hatches
    offered = shared.manifest["spec"]["optionalValues"]
    assert [entry["paths"] for entry in offered.values()] == [["custom.singleuserAdmin.extraVolumeMounts.a-all"]]
    spec = hub.manifest["spec"]
    assert spec["hub"]["declinedValues"] == list(offered) and "declinedValues" not in prod.manifest["spec"]["hub"]
    assert spec["auth"] == {"provider": "sharedPassword", "sharedPassword": {"secretRef": {"name": "workshop-oauth"}}}
    assert set(hub.secrets[0]["stringData"]) == {"userPassword", "adminPassword"}
    assert spec["environment"]["storage"]["tmpSize"] == "15Gi"
    class_spec = HubClassSpec.model_validate(shared.manifest["spec"])
    values = render.values("workshop", "workshop", CommunityHubSpec.model_validate(spec),
                           class_values=class_spec.values, catalog=class_spec)
    admin_mounts = values["custom"]["singleuserAdmin"]["extraVolumeMounts"]
    assert set(admin_mounts) == {"b-shared"}, "the other admin mount stays"
