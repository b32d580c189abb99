from __future__ import annotations

import pytest

from communityhub.api.quantities import parse_cpu, parse_memory
from communityhub.delivery import policy
from tests.unit.test_render import base_spec


def spec_with(membership: str, archetype: str, profiles: list[dict]) -> object:
    spec = base_spec(environment={"image": "quay.io/x/y:1", "profiles": profiles})
    spec.community.membership = membership  # type: ignore[assignment]
    spec.community.archetype = archetype  # type: ignore[assignment]
    return spec


def test_standard_profiles_pass() -> None:
    verdict = policy.environment(spec_with("general", "research", [{"name": "s", "cpu": 2, "memory": "8Gi"}]))
    assert verdict.status == "Unknown" and verdict.reason == "EnvironmentRendered"


@pytest.mark.parametrize(("membership", "archetype", "profile", "reason"), [
    ("essential", "research", {"name": "g", "cpu": 1, "memory": "4Gi", "gpu": 1}, "ProfileNotInTier"),
    ("essential", "research", {"name": "i", "cpu": 1, "memory": "4Gi", "image": "quay.io/a/b:1"},
     "ProfileNotInTier"),
    ("general", "education", {"name": "big", "cpu": 8, "memory": "4Gi"}, "ProfileExceedsLimits"),
    ("general", "education", {"name": "big", "cpu": 1, "memory": "32Gi"}, "ProfileExceedsLimits"),
])
def test_policy_rejections_say_why(membership: str, archetype: str, profile: dict, reason: str) -> None:
    verdict = policy.environment(spec_with(membership, archetype, [profile]))
    assert verdict.status == "False" and verdict.reason == reason
    assert profile["name"] in verdict.message


def test_essential_profile_count() -> None:
    profiles = [{"name": f"p{i}", "cpu": 1, "memory": "1Gi"} for i in range(4)]
    verdict = policy.environment(spec_with("essential", "education", profiles))
    assert verdict.reason == "TooManyProfiles"


def test_quantities() -> None:
    assert parse_memory("4Gi") == 4 * 2**30
    assert parse_memory("512M") == 512 * 10**6
    assert parse_memory("1.5Gi") == int(1.5 * 2**30)
    assert parse_cpu("500m") == 0.5 and parse_cpu(2) == 2.0 and parse_cpu("3920m") == 3.92
    with pytest.raises(ValueError):
        parse_memory("lots")


@pytest.mark.parametrize(("values", "named"), [
    ({"hub": {"extraConfig": {"x": "import os; os.system('id')"}}}, "hub.extraConfig.x"),
    ({"singleuser": {"image": {"name": "evil/miner"}}}, "singleuser.image.name"),
    ({"singleuser": {"profileList": [{"slug": "huge"}]}}, "singleuser.profileList"),
    ({"hub": {"config": {"Authenticator": {"allow_all": True}}}}, "hub.config.Authenticator.allow_all"),
    ({"hub": {"containerSecurityContext": {"privileged": True}}}, "hub.containerSecurityContext.privileged"),
    ({"singleuser": {"storage": {"extraVolumes": [{"hostPath": {"path": "/"}}]}}}, "singleuser.storage.extraVolumes"),
    ({"hub": {"resources": {"requests": {"cpu": 64}}}}, "hub.resources.requests.cpu"),
    # A key with dots cannot pose as an open path.
    ({"ingress": {"annotations.x": {"y": 1}}}, "ingress.annotations.x.y"),
])
def test_values_the_operator_owns_are_refused_by_name(values: dict, named: str) -> None:
    verdict = policy.hub_values(values)
    assert verdict is not None and verdict.status == "False" and verdict.reason == "ValuesNotAllowed"
    assert named in verdict.message


def test_open_values_pass_and_the_setting_widens_them() -> None:
    assert policy.hub_values({}) is None
    assert policy.hub_values({"ingress": {"annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "64m"}},
                              "hub": {"config": {"JupyterHub": {"concurrent_spawn_limit": 5}}}}) is None
    extra = {"hub": {"extraConfig": {"x": "c.Spawner.x = 1"}}}
    assert policy.hub_values(extra, ["hub.extraConfig"]) is None
    assert policy.hub_values({"anything": {"at": "all"}}, ["*"]) is None


def test_workload_identity_passes_only_the_clouds_federation_variables() -> None:
    from communityhub.delivery.policy import workload_identity_env
    environ = {"AWS_ROLE_ARN": "arn:aws:iam::1:role/ops", "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",
               "AWS_SECRET_ACCESS_KEY": "static", "TF_CLI_ARGS": "-x", "ARM_USE_OIDC": "true", "HOME": "/tmp"}
    assert workload_identity_env("aws", environ) == {"AWS_ROLE_ARN": "arn:aws:iam::1:role/ops",
                                                     "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token"}
    assert workload_identity_env("azure", environ) == {"ARM_USE_OIDC": "true"}
    assert workload_identity_env("gcp", environ) == {}  # GKE's metadata server answers: nothing to pass
