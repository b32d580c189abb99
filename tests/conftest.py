"""Session fixtures: real control planes, the CRD, and the operator running as its own process.

The control planes are the project's own (``operator/localcluster``), started once per run and
stopped at the end (``CHUB_TEST_KEEP_CLUSTER=1`` keeps them for the next run). To run the
integration tests against another cluster (kind, say), set ``CHUB_TEST_USE_KUBECONFIG=1`` with
``KUBECONFIG``: opt-in, because the tests create and delete namespaces and CRDs.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from localcluster import binaries, charts, processpods
from localcluster.controlplane import ControlPlane, free_port
from localcluster.pki import CertificateAuthority
from tests.support import smtp
from tests.support.kube import Cluster, wait_for
from tests.support.oidc import OidcIssuer
from tests.support.smtp import SmtpSink

REPO = Path(__file__).resolve().parents[1]
CRD = REPO / "crds" / "communityhub.yaml"
OPERATOR_CHART = REPO / "helm" / "communityhub-operator"
OPERATOR_NAMESPACE = "communityhub-system"
#: The provider's cloud credential for `cloud: local` (test_zz_secret_sweep looks for it everywhere afterwards).
PROVIDER_SECRET, PROVIDER_TOKEN = "communityhub-cloud-local", "prov-cloud-token-91d2e0"
CLOUD_STAND_IN_CREDENTIALS = {
    "gcp": {"GOOGLE_CREDENTIALS": '{"type": "service_account", "project_id": "stand-in-0b7c", '
                                  '"client_email": "terraform@stand-in-0b7c.iam.gserviceaccount.com", '
                                  '"private_key": "-----BEGIN PRIVATE KEY-----\\nstand-in\\n'
                                  '-----END PRIVATE KEY-----\\n"}'},
    "aws": {"AWS_ACCESS_KEY_ID": "AKIASTANDIN0B7C", "AWS_SECRET_ACCESS_KEY": "stand-in-aws-secret-0b7c"},
    "azure": {"ARM_CLIENT_ID": "00000000-0000-0000-0000-000000000b7c", "ARM_CLIENT_SECRET": "stand-in-arm-0b7c",
              "ARM_TENANT_ID": "00000000-0000-0000-0000-000000000000",
              "ARM_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001"},
}
SMTP_SECRET = "smtp-credentials"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:communityhub-operator"
#: The stem of the tests' control planes' names (<stem>-mgmt, <stem>-workload): another stem runs a second suite
#: beside the first (a module while the whole suite runs), on planes of its own.
PLANES = os.environ.get("CHUB_TEST_PLANES", "test")
#: The session operator's rollout deadline: short, so a hub that cannot come up turns False within a test.
ROLLOUT_DEADLINE_SECONDS = 40
LEADER_LEASE_SECONDS = 6


def pytest_report_header() -> str:
    """Which JupyterHub chart the hubs of this run are delivered with."""
    try:
        return f"hub chart: {charts.jupyterhub_chart().describe()}"
    except Exception as err:  # reported again, as a failure, by the fixture that needs it
        return f"hub chart: not available ({err})"


@pytest.fixture(scope="session")
def hub_chart() -> charts.HubChart:
    """The real JupyterHub chart: ../shared/charts when present, else pulled from the official repository."""
    try:
        return charts.jupyterhub_chart()
    except Exception as err:
        pytest.fail(f"the JupyterHub chart {charts.VERSION} cannot be had: {err}", pytrace=False)


def _ensure(names: list[str]) -> dict[str, Path]:
    try:
        return binaries.ensure(names)
    except binaries.BinaryUnavailable as err:
        pytest.fail(
            f"the integration tests need a real control plane, and its binaries cannot be had:\n{err}\n"
            "Run `make binaries` (Go >= 1.26 builds them from the Go module proxy), or point CHUB_BIN_DIR at "
            "prebuilt kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok and helm.",
            pytrace=False)


def _start(name: str, kubectl: Path, region: str = "us-central1") -> Iterator[Cluster]:
    _ensure(list(binaries.CONTROL_PLANE))
    plane = ControlPlane(name, region=region)
    started_here = not plane.running()
    plane.up()
    yield Cluster(name, plane.kubeconfig, kubectl, plane.audit_log)
    if started_here and not os.environ.get("CHUB_TEST_KEEP_CLUSTER"):
        plane.down()


@pytest.fixture(scope="session")
def kubectl_bin() -> Path:
    return _ensure(["kubectl"])["kubectl"]


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    return _ensure(["helm"])["helm"]


@pytest.fixture(scope="session")
def terraform_bin() -> Path:
    try:
        return binaries.terraform()
    except binaries.BinaryUnavailable as err:
        pytest.fail(f"no terraform on PATH and OpenTofu cannot be built: {err}", pytrace=False)


@pytest.fixture(scope="session")
def management(kubectl_bin: Path) -> Iterator[Cluster]:
    """The operator's own cluster."""
    if os.environ.get("CHUB_TEST_USE_KUBECONFIG") and os.environ.get("KUBECONFIG"):
        yield Cluster("external", Path(os.environ["KUBECONFIG"]), kubectl_bin, None)
        return
    yield from _start(f"{PLANES}-mgmt", kubectl_bin)


@pytest.fixture(scope="session")
def workload(kubectl_bin: Path) -> Iterator[Cluster]:
    """A second, independent control plane: a shared or dedicated cluster apart from the management one."""
    yield from _start(f"{PLANES}-workload", kubectl_bin, region="europe-west1")


@pytest.fixture(scope="session")
def crd(management: Cluster) -> Path:
    management.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD.parent))
    management.kubectl("wait", "--for=condition=Established", "crd/communityhubs.hubs.2i2c.org",
                       "crd/fleetrollouts.hubs.2i2c.org", "crd/hubclasses.hubs.2i2c.org", "--timeout=60s")
    return CRD


def token_kubeconfig(cluster: Cluster, service_account: str, namespace: str, path: Path) -> Path:
    """A kubeconfig that acts as a ServiceAccount (so RBAC and the audit log see that identity)."""
    token = cluster.kubectl("create", "token", service_account, "-n", namespace, "--duration=24h").stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    cluster_entry = admin["clusters"][0]
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [cluster_entry],
        "users": [{"name": service_account, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": cluster_entry["name"], "user": service_account}}],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


#: The local module's stand-in for a cloud's short-lived admin credential (GKE's hour-long access token): a token
#: bound to this Secret of the workload plane, so deleting the Secret ends it, as an hour would.
CLOUD_SESSION = "cloud-session"


def cloud_session(workload: Cluster, path: Path) -> Path:
    """(Re)issue the admin credential the local module hands back, as a cloud does at each plan: the old one is
    revoked (its Secret deleted), a new one written to ``path``."""
    account = {"name": "cloud-admin", "namespace": "kube-system"}
    workload.apply([
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": account},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "cloud-admin"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"kind": "ServiceAccount", "name": "cloud-admin", "namespace": "kube-system"}]}])
    workload.kubectl("delete", "secret", CLOUD_SESSION, "-n", "kube-system", "--ignore-not-found", "--wait")
    workload.apply({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": CLOUD_SESSION, "namespace": "kube-system"}})
    token = workload.kubectl("create", "token", "cloud-admin", "-n", "kube-system", "--duration=1h",
                             "--bound-object-kind=Secret", f"--bound-object-name={CLOUD_SESSION}").stdout.strip()
    admin = yaml.safe_load(workload.kubeconfig.read_text())
    entry = admin["clusters"][0]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [entry],
        "users": [{"name": "cloud-admin", "user": {"token": token}}],
        "contexts": [{"name": "cloud", "context": {"cluster": entry["name"], "user": "cloud-admin"}}],
        "current-context": "cloud"}))
    path.chmod(0o600)
    return path


class OperatorProcess:
    """The operator as production runs it: its own process, its own ServiceAccount and RBAC."""

    def __init__(self, kubeconfig: Path, log: Path, env: dict[str, str], command: list[str] | None = None,
                 base_env: dict[str, str] | None = None) -> None:
        """``command`` and ``base_env``: another way to run it (the image's entrypoint in its root, say) and the
        environment it starts from (else this process's)."""
        self.kubeconfig, self.log_path, self.env = kubeconfig, log, env
        self.command = command or [sys.executable, "-m", "communityhub"]
        self.base_env = base_env
        self.proc: subprocess.Popen[bytes] | None = None
        self.user = OPERATOR_USER

    def start(self, wait: bool = True) -> None:
        """Start it; with ``wait``, until it leads and watches (a killed predecessor's Lease expires first)."""
        mark = len(self.log())
        log = self.log_path.open("ab")
        base = dict(os.environ) if self.base_env is None else self.base_env
        self.proc = subprocess.Popen(
            self.command, stdout=log, stderr=subprocess.STDOUT,
            env={**base, **self.env, "KUBECONFIG": str(self.kubeconfig)}, start_new_session=True)
        log.close()
        if wait:
            wait_for(lambda: "Activity 'startup' succeeded" in self.log()[mark:], timeout=60,
                     what="the operator to lead and start")

    def kill_everything(self) -> None:
        """SIGKILL the operator and every process it started (terraform, helm), as a pod kill would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metric(self, name: str, **labels: str) -> float:
        """The sum of this process's samples of ``name`` that carry these labels (scraped from its endpoint)."""
        port = self.env.get("CHUB_METRICS_PORT", "0")
        assert port != "0", "this operator process serves no metrics"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        wanted = [f'{key}="{value}"' for key, value in labels.items()]
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if (line.startswith(name + "{") or line.startswith(name + " "))
                   and all(label in line for label in wanted))

    def resyncs(self) -> float:
        """Resync passes this process completed (its own metric: an idle resync logs nothing at INFO)."""
        return self.metric("communityhub_reconciles_total", trigger="resync")


@pytest.fixture(scope="module")
def process_nodes(management: Cluster) -> Iterator[list[str]]:
    """The local plane's process-pods nodes (localcluster.processpods): the pods they take run as real processes.
    Stopped after the module (CHUB_TEST_KEEP_PROCESS_PODS=1 keeps them, to look at their logs)."""
    if why := processpods.available():
        pytest.skip(why)
    plane = ControlPlane(management.name)
    nodes = processpods.start(plane)
    yield nodes
    if not os.environ.get("CHUB_TEST_KEEP_PROCESS_PODS"):
        processpods.stop(plane)


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    """The private CA of the tests' TLS servers (SMTP sink, OIDC issuer): the operator trusts it through
    CHUB_EXTRA_CA_FILE, as it would a provider's own CA."""
    return CertificateAuthority(tmp_path_factory.mktemp("test-pki"))


def server_certificate(ca: CertificateAuthority, stem: str) -> tuple[Path, Path]:
    return ca.issue(ca.cert_path.parent, stem, "127.0.0.1", server_ips=("127.0.0.1",))


@pytest.fixture(scope="session")
def smtp_sink(tls_ca: CertificateAuthority) -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) that receives the DELIVERED emails, over STARTTLS and a login."""
    sink = SmtpSink(tls=server_certificate(tls_ca, "smtp"))
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def oidc_issuer(tls_ca: CertificateAuthority) -> Iterator[OidcIssuer]:
    """A real https OIDC issuer whose discovery answers the tests set per realm."""
    issuer = OidcIssuer(tls=server_certificate(tls_ca, "oidc"))
    issuer.start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """An S3-compatible server (moto's) on 127.0.0.1: the `local` bucket module's cloud. Its base URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def operator(management: Cluster, workload: Cluster, crd: Path, helm_bin: Path, terraform_bin: Path,
             hub_chart: charts.HubChart, smtp_sink: SmtpSink, tls_ca: CertificateAuthority, s3_server: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    workdir = tmp_path_factory.mktemp("operator")
    management.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    management.apply({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": SMTP_SECRET, "namespace": OPERATOR_NAMESPACE},
        "type": "Opaque", "stringData": {"username": smtp.USERNAME, "password": smtp.PASSWORD}})
    # The provider's own credentials for provider-account `cloud: local` clusters (the local module refuses to
    # create a cluster without them, as a cloud API does).
    management.apply({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": PROVIDER_SECRET, "namespace": OPERATOR_NAMESPACE},
        "type": "Opaque", "stringData": {"LOCAL_CLOUD_TOKEN": PROVIDER_TOKEN}})
    # ... and for the real clouds, stand-ins: the cloud examples reach `terraform init`, which stops for want of
    # the provider registry (tests/integration/test_dedicated.py).
    for cloud, keys in CLOUD_STAND_IN_CREDENTIALS.items():
        management.apply({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque", "stringData": keys,
            "metadata": {"name": f"communityhub-cloud-{cloud}", "namespace": OPERATOR_NAMESPACE}})
    rbac = subprocess.run(
        [str(helm_bin), "template", "chub", str(OPERATOR_CHART), "--namespace", OPERATOR_NAMESPACE,
         "--show-only", "templates/rbac.yaml"], capture_output=True, text=True, check=True).stdout
    management.apply(rbac)
    kubeconfig = token_kubeconfig(management, "communityhub-operator", OPERATOR_NAMESPACE,
                                  workdir / "operator.kubeconfig")
    proc = OperatorProcess(kubeconfig, workdir / "operator.log", {
        "CHUB_NAMESPACE": OPERATOR_NAMESPACE,
        **charts.operator_env(hub_chart),
        "CHUB_HELM": str(helm_bin),
        "CHUB_RESYNC_SECONDS": "2",
        "CHUB_ROLLOUT_SECONDS": "2",
        "CHUB_ROLLOUT_DEADLINE_SECONDS": str(ROLLOUT_DEADLINE_SECONDS),
        "CHUB_DRIFT_GRACE_SECONDS": "5",
        # A short Lease: the tests that kill the operator get it back within seconds.
        "CHUB_LEADER_LEASE_SECONDS": str(LEADER_LEASE_SECONDS),
        "CHUB_LEADER_RENEW_SECONDS": "2",
        "CHUB_METRICS_PORT": str(free_port()),  # tests read its counters (OperatorProcess.resyncs)
        "CHUB_HEALTH_PORT": "0",
        # Dedicated hubs with `cloud: local` get the workload control plane through terraform.
        "CHUB_TERRAFORM": str(terraform_bin),
        "CHUB_TERRAFORM_WORKDIR": str(workdir / "terraform"),
        "CHUB_TERRAFORM_TIMEOUT_SECONDS": "40",
        "CHUB_LOCAL_CLUSTER_KUBECONFIG": str(cloud_session(workload, workdir / "cloud.kubeconfig")),
        "CHUB_LOCAL_PROVISION_SECONDS": "6",
        # Buckets (spec.storage.buckets) of hubs on the operator's own cluster and of `cloud: local` hubs: on the
        # session's S3-compatible server.
        "CHUB_OWN_CLUSTER_CLOUD": "local",
        "CHUB_OWN_CLUSTER_REGION": "local-1",
        "CHUB_LOCAL_S3_ENDPOINT": s3_server,
        # The provider's inputs of the cloud modules (the GCP project is each example's own).
        "CHUB_GCP_BILLING_ACCOUNT": "000000-000000-000B7C",
        "CHUB_BUDGET_EMAIL": "budgets@example.org",
        # The DELIVERED email goes to the session's SMTP sink, with a login from a Secret.
        "CHUB_SMTP_HOST": "127.0.0.1",
        "CHUB_SMTP_PORT": str(smtp_sink.port),
        "CHUB_SMTP_STARTTLS": "true",
        "CHUB_EXTRA_CA_FILE": str(tls_ca.cert_path),
        "CHUB_SMTP_CREDENTIALS_SECRET": SMTP_SECRET,
        "CHUB_SMTP_FROM": "CommunityHub tests <hubs@example.org>",
        "CHUB_SUPPORT_URL": "https://support.example.org",
        # The OIDC issuers and hub APIs of the tests are on 127.0.0.1: the provider's own, here.
        "CHUB_HTTP_ALLOW_PRIVATE": "true",
        # Metering off: it writes on its own schedule, which the write-counting tests must not see.
        # test_usage.py turns it on for its own module.
        "CHUB_METER_SECONDS": "0",
    })
    proc.start()
    yield proc
    proc.stop()
    print(f"operator log: {proc.log_path}")


def oauth_secret(name: str, namespace: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "type": "Opaque", "data": {"client_id": base64.b64encode(b"test-client").decode(),
                                       "client_secret": base64.b64encode(b"s3cr3t-value-never-shown").decode()}}
