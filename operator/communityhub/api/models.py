"""The CommunityHub API (group hubs.2i2c.org, version v1alpha1).

These pydantic models are the single source of truth: ``communityhub.api.crd`` generates the
CRD's OpenAPI schema from them (``make crds``), and the operator parses every object through them.
Field descriptions become ``kubectl explain`` text; cross-field rules are CEL rules
(``x-kubernetes-validations``) attached to the models that own the fields.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

GROUP = "hubs.2i2c.org"
VERSION = "v1alpha1"
KIND = "CommunityHub"
PLURAL = "communityhubs"
SINGULAR = "communityhub"
SHORT_NAMES = ["chub"]
API_VERSION = f"{GROUP}/{VERSION}"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
MEMORY_QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$"
# An OCI image reference: [registry[:port]/]path[:tag][@digest]; lower-case path, no spaces.
IMAGE_REFERENCE = (
    r"^([a-zA-Z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)
#: A CommunityHub's name becomes part of Helm release, label and cluster names: it must be a DNS label of at
#: most this many characters (Helm's release name limit).
HUB_NAME_MAX = 53
#: Rules on metadata.name (CEL at the root of the schema, the only place that sees it).
NAME_RULES = [
    {"rule": f"self.metadata.name.size() <= {HUB_NAME_MAX}",
     "message": f"metadata.name must be at most {HUB_NAME_MAX} characters (it names the hub's Helm release)",
     "reason": "FieldValueInvalid"},
    {"rule": "!self.metadata.name.contains('.')",
     "message": "metadata.name must not contain dots (it names Services and a cluster of the hub)",
     "reason": "FieldValueInvalid"},
]
#: The essential tier's standard profiles: at most this many.
ESSENTIAL_MAX_PROFILES = 3
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
#: Free text that lands in email headers and labels: one line, no control characters.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
#: Text shown on the hub's pages: one line, no control characters, no angle brackets (no raw HTML).
PLAIN_TEXT = r"^[^\x00-\x1f\x7f<>]*$"
HTTPS_URL = r"^https://[^\s<>\"']+$"
#: A link shown on a page (not fetched by it): http is allowed, as many institutions' sites still are.
LINK_URL = r"^https?://[^\s<>\"']+$"
#: An environment variable's name (JupyterHub's own, JUPYTERHUB_* and JPY_*, are refused by a CEL rule).
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: A memory limit is not below its guarantee (CEL's Kubernetes quantity library).
def _not_below(limit: str, guarantee: str, what: str) -> dict[str, str]:
    return {"rule": f"!has(self.{limit}) || quantity(self.{limit}).compareTo(quantity(self.{guarantee})) >= 0",
            "message": f"{what} must not be below its guarantee ({guarantee})", "fieldPath": f".{limit}",
            "reason": "FieldValueInvalid"}


#: A kind of staff account (HubClass staffUsers' keys, hub.staffAdmins): github, google, cilogon, say.
STAFF_KIND = r"^[a-z][a-z0-9-]{0,39}$"
#: A paragraph of a home page: text with links and a few inline tags, nothing that runs. A link goes to an https
#: URL or within the hub (no scheme, no character reference that could spell one).
LEARN_MORE = (r'^([^<>\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|<(/?(p|em|strong|b|i)|br ?/?)>|</a>|'
              r'<a href="(https://[^"<>\s]+|[^":<>&]*)">)*$')
#: A chart-values path, dotted.
VALUES_PATH = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
#: The name of something a class offers (a Kubernetes-style name).
OFFER_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


def _cel(rule: str, message: str, field_path: str | None = None, reason: str | None = None) -> dict[str, str]:
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = "." + field_path
    if reason:
        entry["reason"] = reason
    return entry


def _unique(items: str, key: str, message: str, reason: str = "FieldValueInvalid") -> dict[str, str]:
    """A CEL rule: no two elements of the (optional) list ``items`` share ``key``."""
    return _cel(f"!has(self.{items}) || self.{items}.all(a, self.{items}.exists_one(b, b.{key} == a.{key}))",
                message, items, reason)


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields rejected."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# --------------------------------------------------------------------------------------- spec
class Community(ApiModel):
    display_name: str = Field(description="Human name of the community, shown in emails and invoices.",
                              min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS)
    contact_email: str = Field(description="Address that receives the DELIVERED email.", pattern=EMAIL,
                               max_length=254)
    archetype: Literal["education", "research", "partnership"] = Field(
        description="Community archetype; with the placement it sets the price "
                    "(partnership hubs carry a custom monthly fee in billing.monthlyFeeUSD).")
    membership: Literal["general", "premier", "essential"] = Field(
        default="general", description="Membership tier; essential hubs get the standard profiles only.")
    historically_marginalized: bool = Field(
        default=False, description="Counted in network KPIs: a non-R1 institution, or a community outside "
                                   "North America and Western Europe.")


class SecretRef(ApiModel):
    name: str = Field(description="Name of a Secret in the CommunityHub's namespace.", pattern=DNS_NAME,
                      max_length=253)


class NodePoolGpu(ApiModel):
    type: str = Field(description="Accelerator type, e.g. nvidia-tesla-t4 (GKE's name; on AWS and Azure the "
                                  "machine type carries its GPUs and this names them for the price catalog).",
                      pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    count: int = Field(default=1, ge=1, le=16, description="Accelerators per node.")


class NodePool(ApiModel):
    """A pool of user nodes, autoscaled between min and max, in one zone (home volumes are zonal)."""

    name: str = Field(description="Node pool name.", pattern=DNS_LABEL, max_length=40)
    machine_type: str = Field(description="Cloud machine type, e.g. n2-highmem-4.", min_length=1, max_length=63)
    min: int = Field(default=0, ge=0, le=1000, description="Smallest number of nodes (autoscaling floor).")
    max: int = Field(ge=1, le=1000, description="Largest number of nodes (autoscaling ceiling).")
    gpu: NodePoolGpu | None = Field(default=None, description="GPUs of each node; the nodes are tainted "
                                                              "nvidia.com/gpu so only GPU profiles land there.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("self.min <= self.max", "min must not exceed max", reason="FieldValueInvalid"),
        ]},
    )


class Dedicated(ApiModel):
    cloud: Literal["gcp", "aws", "azure", "local"] = Field(
        description="Cloud of the dedicated cluster; `local` is the development and test target. "
                    "Cannot change after creation.")
    account: Literal["provider", "customer"] = Field(
        default="provider", description="Whose cloud account pays the cloud bill. The provider passes its "
                                        "cloud cost on in the monthly invoice; a customer pays its own.")
    region: str = Field(description="Cloud region, e.g. us-central1.", min_length=1, max_length=63)
    project: str | None = Field(
        default=None, pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$",
        description="GCP project of the cluster (cloud gcp); the operator's CHUB_GCP_PROJECT when omitted.")
    zone: str | None = Field(
        default=None, pattern=r"^[a-z0-9][-a-z0-9]{0,62}$",
        description="Zone of the nodes (a user's home volume is zonal, so its pod must come back to that zone): "
                    "GCP e.g. us-central1-b, AWS e.g. us-west-2a, Azure 1, 2 or 3. Default: the region's first "
                    "zone. Cannot change after creation.")
    credentials_secret_ref: SecretRef | None = Field(
        default=None, description="Secret with the customer's cloud credentials; required for a customer account.")
    node_pools: list[NodePool] = Field(
        default_factory=lambda: [NodePool(name="user", machine_type="n2-highmem-4", min=0, max=20)],
        description="User node pools (a small core pool is always added).", max_length=10)
    require_approval: bool = Field(
        default=False, description="Hold Terraform's apply until a person approves the cost estimate and the "
                                   "plan's counts (status.estimate; annotation hubs.2i2c.org/approved-estimate).")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("self.account != 'customer' || has(self.credentialsSecretRef)",
                 "credentialsSecretRef is required when account is customer", "credentialsSecretRef",
                 "FieldValueRequired"),
            _cel("self.cloud == oldSelf.cloud", "cloud cannot change after creation", reason="FieldValueForbidden"),
            _cel("has(self.zone) == has(oldSelf.zone) && (!has(self.zone) || self.zone == oldSelf.zone)",
                 "zone cannot change after creation", reason="FieldValueForbidden"),
        ]},
    )


class Placement(ApiModel):
    type: Literal["shared", "dedicated"] = Field(
        description="shared: on a cluster the provider already runs for many hubs; dedicated: a cluster of "
                    "the hub's own. Cannot change after creation.")
    shared_cluster: str | None = Field(
        default=None, pattern=DNS_LABEL, max_length=63,
        description="When shared: the name of a cluster the operator knows (its own cluster is `local`).")
    dedicated: Dedicated | None = Field(default=None, description="When dedicated: the cluster to create.")
    home_disk: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.:-]*$", max_length=500,
        description="The pre-made cloud disk of the hub's home server (a GCE disk path, an EBS or Cinder volume id), "
                    "where its HubClass's homeServer names the cloud (eks, gke or openstack enabled): its homes stay "
                    "on that disk across moves. One hub's alone: a second hub naming it is refused.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("self.type != 'shared' || has(self.sharedCluster)",
                 "sharedCluster is required when type is shared", "sharedCluster", "FieldValueRequired"),
            _cel("self.type != 'dedicated' || has(self.dedicated)",
                 "dedicated is required when type is dedicated", "dedicated", "FieldValueRequired"),
            _cel("self.type == 'dedicated' || !has(self.dedicated)",
                 "dedicated is only allowed when type is dedicated", "dedicated", "FieldValueForbidden"),
            _cel("self.type == oldSelf.type", "placement type cannot change after creation",
                 reason="FieldValueForbidden"),
        ]},
    )


class Chart(ApiModel):
    version: str | None = Field(
        default=None, max_length=64, pattern=r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$",
        description="JupyterHub chart version; the operator's default when omitted.")


class HubResources(ApiModel):
    """What the hub pod (JupyterHub itself, not the users' servers) reserves on its core node."""

    cpu: float = Field(default=0.2, gt=0, le=8, description="CPU request of the hub pod, in cores.")
    memory: str = Field(default="1Gi", pattern=MEMORY_QUANTITY, max_length=20,
                        description="Memory request and limit of the hub pod, e.g. 1Gi.")


class Branding(ApiModel):
    """How the hub presents itself: plain text and https URLs only, shown by the templates its HubClass
    provides (rendered into hub.config.JupyterHub.template_vars)."""

    org_name: str | None = Field(default=None, min_length=1, max_length=200, pattern=PLAIN_TEXT,
                                 description="The community's name on the home page.")
    org_url: str | None = Field(default=None, pattern=LINK_URL, max_length=500, description="Its web site.")
    logo_url: str | None = Field(default=None, pattern=HTTPS_URL, max_length=500,
                                  description="Its logo (an image URL).")
    funded_by_name: str | None = Field(default=None, min_length=1, max_length=200, pattern=PLAIN_TEXT,
                                       description="Who funds the hub.")
    funded_by_url: str | None = Field(default=None, pattern=LINK_URL, max_length=500,
                                      description="The funder's site.")
    learn_more: str | None = Field(
        default=None, min_length=1, max_length=4000, pattern=LEARN_MORE,
        description="A paragraph the class's home page shows (learn_more): text with links <a href=\"...\">, to "
                    "an https URL or a path of the hub, and <p>, <br>, <em>, <strong>, <b>, <i>; nothing else.")
    home_page: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", max_length=100,
        description="Which of its class's home pages (homePages.offered) the hub shows; the class's default when "
                    "omitted.")
    announcement: str | None = Field(default=None, min_length=1, max_length=500, pattern=PLAIN_TEXT,
                                     description="A short announcement on every page (JupyterHub's announcement).")
    login_redirect: str | None = Field(
        default=None, pattern=r"^(/[^\s<>\"']*|https://[^\s<>\"']+)$", max_length=500,
        description="Where a user who arrives at the hub lands after logging in (JupyterHub.default_url): a path "
                    "of the hub such as /hub/home, or an https URL; their own server when omitted.")


class Hub(ApiModel):
    domain: str = Field(description="Public DNS name of the hub (ingress host; the URL is https://<domain>).",
                        pattern=DNS_NAME, max_length=253)
    chart: Chart = Field(default_factory=Chart, description="Chart settings; defaults come from the operator.")
    admin_users: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=100, description="Users with admin rights in the hub.")
    staff_admins: str | None = Field(
        default=None, pattern=STAFF_KIND,
        description="Make the provider's staff admins of the hub too, by the accounts they log in with here: a kind "
                    "of the class's staffUsers (github, google, cilogon, say), whose users are added to adminUsers.")
    resources: HubResources = Field(default_factory=HubResources,
                                    description="Requests of the hub pod; larger hubs need more.")
    branding: Branding | None = Field(default=None, description="Home and login page branding.")
    declined_values: list[Annotated[str, Field(pattern=OFFER_NAME, max_length=63)]] = Field(
        default_factory=list, max_length=20,
        description="Parts of its class's values this hub goes without (the class's optionalValues, by name): a "
                    "workshop without the class's shared directory, say. A name the class does not offer is refused.",
        json_schema_extra={"x-kubernetes-list-type": "set"})
    values: dict[str, Any] = Field(
        default_factory=dict, description="Last-resort Helm values, merged over the rendered ones.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})


GITHUB_LOGIN = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,38})$"
GITHUB_TEAM_SLUG = r"^[A-Za-z0-9_.-]{1,100}$"
#: A team as GitHub and oauthenticator name it: <organization>:<team slug>.
GITHUB_TEAM = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}:[A-Za-z0-9_.-]{1,100}$"


class GitHubOrganization(ApiModel):
    """A GitHub organization whose members (or some of whose teams) may log in."""

    name: str = Field(description="A GitHub organization.", pattern=GITHUB_LOGIN, max_length=39)
    teams: list[Annotated[str, Field(pattern=GITHUB_TEAM_SLUG, max_length=100)]] = Field(
        default_factory=list, max_length=50,
        description="Teams of it allowed in (slugs); empty: every member of the organization.")


class GitHubAuth(ApiModel):
    organization: str | None = Field(default=None, description="GitHub organization whose members may log in (or "
                                                               "organizations, for several). Neither: only the "
                                                               "class's staff teams and the users the hub names "
                                                               "(hub.adminUsers, auth.allowedUsers) log in.",
                                     min_length=1, max_length=39)
    teams: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=50,
        description="Teams of the organization allowed in; empty: every member of the organization.")
    organizations: list[GitHubOrganization] = Field(
        default_factory=list, max_length=20, description="Several organizations, each with optional teams.")
    scopes: list[Annotated[str, Field(pattern=r"^[a-z:_]{1,40}$", max_length=40)]] = Field(
        default_factory=list, max_length=10,
        description="OAuth scopes the users' GitHub tokens get besides read:org (public_repo, say, for a hub that "
                    "passes tokens so users push from their servers).")
    admin_teams: list[Annotated[str, Field(pattern=GITHUB_TEAM, max_length=140)]] = Field(
        default_factory=list, max_length=20,
        description="Teams (<organization>:<team>) whose members are hub admins. GitHub teams become the hub's "
                    "groups, so profiles' allowedGroups may name them too.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("!(has(self.organization) && has(self.organizations) && size(self.organizations) > 0)",
                 "set organization (with teams) or organizations, not both", reason="FieldValueInvalid"),
            _cel("!has(self.organizations) || self.organizations.all(a, self.organizations.exists_one(b, "
                 "b.name == a.name))", "organizations must be unique", "organizations", "FieldValueInvalid"),
        ]},
    )

    def allowed(self) -> list[tuple[str, list[str]]]:
        """(organization, its teams) for either form."""
        if self.organizations:
            return [(o.name, list(o.teams)) for o in self.organizations]
        return [(self.organization, list(self.teams))] if self.organization else []


class CILogonIdp(ApiModel):
    """An identity provider allowed through CILogon."""

    entity_id: str = Field(description="SAML entity ID or OIDC issuer of the identity provider.", min_length=1,
                           max_length=500)
    username_claim: Literal["email", "eppn", "sub", "oidc", "preferred_username"] = Field(
        default="email", description="Claim that becomes the JupyterHub username.")
    allowed_domains: list[Annotated[str, Field(pattern=DNS_NAME, max_length=253)]] = Field(
        default_factory=list, max_length=50,
        description="Email domains allowed in from this provider (matched on usernameClaim). Empty, without "
                    "allowAll: only the users the hub names (hub.adminUsers, auth.allowedUsers) come in through it, "
                    "never every user of the provider.")
    allow_all: bool = Field(default=False, description="Let in every user this provider authenticates (an "
                                                       "institution's own identity provider); never implied.")
    default: bool = Field(default=False, description="Preselected on CILogon's login page (at most one).")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("!(has(self.allowAll) && self.allowAll) || !has(self.allowedDomains) || "
                 "size(self.allowedDomains) == 0",
                 "allowAll lets every user in: allowedDomains would not narrow it", "allowAll", "FieldValueForbidden"),
        ]},
    )


class CILogonAuth(ApiModel):
    allowed_idps: list[CILogonIdp] = Field(min_length=1, max_length=50,
                                           description="Identity providers allowed to log in.",
                                           json_schema_extra={"x-kubernetes-validations": [
                                               _cel("self.filter(i, has(i.default) && i.default).size() <= 1",
                                                    "at most one identity provider may be the default",
                                                    reason="FieldValueInvalid")]})
    groups_claim: str = Field(default="isMemberOf", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                              description="Claim of CILogon's user info that lists the user's groups (CILogon's "
                                          "isMemberOf, where the identity provider releases it).")
    admin_groups: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100, description="Groups (in groupsClaim) whose members are hub admins.")


class OIDCAuth(ApiModel):
    issuer: str = Field(description="Issuer URL (its /.well-known/openid-configuration is read).",
                        pattern=r"^https://\S+$", max_length=500)
    username_claim: str = Field(default="preferred_username", min_length=1, max_length=100,
                                description="Claim that becomes the JupyterHub username.")
    scopes: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=lambda: ["openid", "email", "profile"], max_length=20, description="OAuth scopes.")
    groups_claim: str = Field(default="groups", min_length=1, max_length=100,
                              description="Claim of the userinfo response that lists the user's groups.")
    allowed_groups: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100,
        description="Groups (in groupsClaim) allowed in. Empty, with no auth.allowedUsers: every user the "
                    "issuer authenticates.")
    admin_groups: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100, description="Groups (in groupsClaim) whose members are hub admins.")


class OAuth2Auth(ApiModel):
    """An OAuth2 provider without OIDC discovery (Canvas and other learning platforms): its endpoints given."""

    authorize_url: str = Field(pattern=HTTPS_URL, max_length=500, description="Its authorization endpoint.")
    token_url: str = Field(pattern=HTTPS_URL, max_length=500, description="Its token endpoint.")
    userdata_url: str | None = Field(default=None, pattern=HTTPS_URL, max_length=500,
                                     description="Where the user's data is read (or userdataFromIdToken).")
    userdata_from_id_token: bool = Field(default=False, description="Read the user's data from the token "
                                                                    "endpoint's ID token instead of a URL.")
    username_key: str = Field(default="username", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                              description="Key of the user data that becomes the JupyterHub username.")
    scopes: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=20, description="OAuth scopes.")
    login_service: str = Field(default="OAuth 2.0", min_length=1, max_length=60, pattern=NO_CONTROL_CHARACTERS,
                               description="The provider's name on the login button.")
    groups_key: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                                   description="Key of the user data that lists the user's groups, if any.")
    allowed_groups: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100,
        description="Groups (in groupsKey) allowed in. Empty, with no auth.allowedUsers: every user it authenticates.")
    admin_groups: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100, description="Groups (in groupsKey) whose members are hub admins.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("has(self.groupsKey) || ((!has(self.allowedGroups) || size(self.allowedGroups) == 0) && "
                 "(!has(self.adminGroups) || size(self.adminGroups) == 0))",
                 "allowedGroups and adminGroups need groupsKey", reason="FieldValueRequired"),
            _cel("has(self.userdataUrl) != (has(self.userdataFromIdToken) && self.userdataFromIdToken)",
                 "set userdataUrl or userdataFromIdToken: true, one of them", reason="FieldValueInvalid"),
        ]},
    )


class GoogleAuth(ApiModel):
    """Google accounts of Workspace domains, through oauthenticator's GoogleOAuthenticator."""

    hosted_domains: list[Annotated[str, Field(pattern=DNS_NAME, max_length=253)]] = Field(
        min_length=1, max_length=20,
        description="Google Workspace domains (the `hd` claim) whose users may log in; nobody else.")


class TemporaryAuth(ApiModel):
    """Anyone who opens the hub gets a user of their own for the session (workshops, binders): no login."""

    max_concurrent_users: int = Field(
        default=100, ge=1, le=2000, description="Servers running at once, at most (JupyterHub's active_server_limit).")


class PublicAuth(ApiModel):
    """No login at all (provider none): a public Binder hub, whose visitors reach a server only through its Binder
    page. BinderHub makes a user of its own for each launch; the culler stops each server and removes its user.
    Only a HubClass with publicHubs allows it, within the class's bounds."""

    max_concurrent_users: int = Field(
        default=100, ge=1, le=5000, description="Servers running at once, at most (JupyterHub's active_server_limit).")
    idle_minutes: int = Field(default=10, ge=1, le=1440,
                              description="A server idle this long is stopped and its user removed.")
    max_age_minutes: int = Field(default=360, ge=10, le=10080,
                                 description="A server is stopped this long after it started, idle or not.")


class SharedPasswordAuth(ApiModel):
    """One password for a workshop whose attendees share no account (JupyterHub's SharedPasswordAuthenticator):
    each attendee picks a user name and logs in with the workshop's password. Anyone who has it may log in as any
    user who is not an admin, so their files are as open as the password; admins log in by their names in
    hub.adminUsers with a password of their own."""

    secret_ref: SecretRef = Field(
        description="Secret beside the CommunityHub with key userPassword (8 characters or more) and, for the hub's "
                    "admins, adminPassword (32 or more, not the same). They reach the hub through a Secret in its "
                    "namespace, never its values; a change rolls the hub.")


class Auth(ApiModel):
    provider: Literal["github", "cilogon", "oidc", "oauth2", "google", "temporary", "sharedPassword", "none"] = Field(
        description="Single sign-on provider; temporary: no login, a temporary user per visitor (only for hubs "
                    "without persistent homes or with a lifecycle window); sharedPassword: one password for "
                    "everyone (a workshop's); none: no login, servers only through the Binder page (a public Binder "
                    "hub: binder.landingPage, on a class with publicHubs).")
    github: GitHubAuth | None = Field(default=None, description="GitHub settings (provider github).")
    cilogon: CILogonAuth | None = Field(default=None, description="CILogon settings (provider cilogon).")
    oidc: OIDCAuth | None = Field(default=None, description="Generic OIDC settings (provider oidc).")
    oauth2: OAuth2Auth | None = Field(default=None, description="OAuth2 with explicit endpoints (provider oauth2).")
    google: GoogleAuth | None = Field(default=None, description="Google with a hosted domain (provider google).")
    temporary: TemporaryAuth | None = Field(default=None, description="Temporary users (provider temporary).")
    public: PublicAuth | None = Field(default=None, description="The caps of a hub with no login (provider none); "
                                                                "their defaults when omitted.")
    shared_password: SharedPasswordAuth | None = Field(
        default=None, description="The workshop's passwords (provider sharedPassword).")
    allowed_users: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=1000, description="Further users allowed in by name.")
    client_secret_ref: SecretRef | None = Field(
        default=None, description="Secret with the OAuth client's keys client_id and client_secret (every provider "
                                  "but temporary and sharedPassword; for cilogon, omitted where the HubClass "
                                  "registers the hub's client: cilogonClients).")
    pass_tokens: bool = Field(
        default=False, description="Put the user's access token from the identity provider into their server's "
                                   "environment (ACCESS_TOKEN; GITHUB_TOKEN too for GitHub), so notebooks can call "
                                   "that provider's API. The hub encrypts it at rest with the key the chart "
                                   "generates into its Secret in the hub's namespace.")
    keep_tokens: bool = Field(
        default=False, description="Keep the user's tokens from the identity provider in the hub (encrypted at rest, "
                                   "as for passTokens, which keeps them too), and check them before each server "
                                   "start: a user whose token has expired, and cannot be refreshed, logs in again. "
                                   "Admins' tools that read a user's auth state need it.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            *(_cel(f"self.provider != '{p}' || has(self.{p})", f"{p} settings are required when provider is {p}",
                   p, "FieldValueRequired")
              for p in ("github", "cilogon", "oidc", "oauth2", "google", "sharedPassword")),
            _cel("self.provider in ['temporary', 'sharedPassword', 'cilogon', 'none'] || has(self.clientSecretRef)",
                 "clientSecretRef is required for a login provider", "clientSecretRef", "FieldValueRequired"),
            *(_cel(f"self.provider != 'sharedPassword' || !self.{f}",
                   f"a shared password has no identity provider, so no token to {v}", f, "FieldValueInvalid")
              for f, v in (("passTokens", "pass"), ("keepTokens", "keep"))),
            _cel("self.provider != 'temporary' || !self.passTokens",
                 "temporary users have no identity provider, so no token to pass", "passTokens", "FieldValueInvalid"),
            _cel("self.provider != 'temporary' || !self.keepTokens",
                 "temporary users have no identity provider, so no token to keep", "keepTokens", "FieldValueInvalid"),
            *(_cel(f"self.provider != 'none' || !self.{f}",
                   f"a hub with no login has no identity provider, so no token to {v}", f, "FieldValueInvalid")
              for f, v in (("passTokens", "pass"), ("keepTokens", "keep"))),
        ]},
    )


class Content(ApiModel):
    """A git repository pulled into the user's home when their server starts (nbgitpuller: new files come in,
    the user's own changes are kept)."""

    repository: str = Field(pattern=HTTPS_URL, max_length=500, description="The repository's https URL.")
    branch: str = Field(default="main", pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", max_length=200,
                        description="Its branch.")


#: A CPU or memory limit is not below its guarantee (profiles, sizes, a hub's one server).
_LIMIT_RULES = [
    _cel("!has(self.cpuLimit) || !has(self.cpu) || self.cpuLimit >= self.cpu", "cpuLimit must not be below cpu",
         "cpuLimit", "FieldValueInvalid"),
    _not_below("memoryLimit", "memory", "memoryLimit"),
]


def _env_rule(field: str) -> dict[str, str]:
    return _cel(f"!has(self.{field}) || self.{field}.all(k, k.matches('{ENV_NAME}') && !k.startsWith('JUPYTERHUB_') "
                "&& !k.startsWith('JPY_'))",
                f"{field} names are letters, digits and _, not JupyterHub's own (JUPYTERHUB_*, JPY_*)", field,
                "FieldValueInvalid")


def _env_names(env: dict[str, str]) -> dict[str, str]:
    bad = [k for k in env if not re.match(ENV_NAME, k) or k.startswith(("JUPYTERHUB_", "JPY_"))]
    if bad:
        raise ValueError(f"env names are letters, digits and _, not JupyterHub's own: {', '.join(bad)}")
    return env


EnvVars = dict[str, Annotated[str, Field(max_length=4096)]]
#: Resources a server has no limit for (profiles, sizes, a hub's one server).
Unlimited = Annotated[list[Literal["cpu", "memory"]], Field(
    default_factory=list, max_length=2,
    description="Resources with no limit: the server may use what its node has free (a GPU node it has to "
                "itself, say). Only where the tier allows it (HubClass tiers.<tier>.unlimited), and for a "
                "profile or size only on a nodePool, whose node bounds it.")]


class ProfileSize(ApiModel):
    """One size users pick inside a profile (the chart's profile_options): a guarantee, a limit, GPUs and the
    node pool that size runs on."""

    name: str = Field(pattern=DNS_LABEL, max_length=63, description="The size's key.")
    display_name: str | None = Field(default=None, max_length=200, pattern=NO_CONTROL_CHARACTERS,
                                     description="What users are shown.")
    cpu: float | None = Field(default=None, gt=0, le=256, description="CPU guarantee, in cores.")
    memory: str = Field(pattern=MEMORY_QUANTITY, max_length=20, description="Memory guarantee.")
    cpu_limit: float | None = Field(default=None, gt=0, le=256, description="CPU limit; cpu when omitted.")
    memory_limit: str | None = Field(default=None, pattern=MEMORY_QUANTITY, max_length=20,
                                     description="Memory limit; memory when omitted.")
    gpu: int = Field(default=0, ge=0, le=16, description="Number of GPUs (of the node pool's GPU type).")
    node_pool: str | None = Field(default=None, pattern=DNS_LABEL, max_length=63,
                                  description="A node pool of the HubClass's catalog; the profile's when omitted.")
    env: EnvVars = Field(default_factory=dict, max_length=20,
                         description="Environment variables of servers of this size (a GPU driver's, say).")
    unlimited: Unlimited
    allowed_groups: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=50,
        description="Only members of these groups are offered this size; everyone offered the profile when empty.")
    default: bool = Field(default=False, description="Preselected size (the first when none is).")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            *_LIMIT_RULES,
            _env_rule("env"),
        ]},
    )

    _check_env = field_validator("env")(classmethod(lambda cls, v: _env_names(v)))


class Profile(ApiModel):
    """A server option offered to users when they start their server."""

    name: str = Field(description="Profile slug shown to users.", pattern=DNS_LABEL, max_length=63)
    display_name: str | None = Field(default=None, max_length=100, pattern=NO_CONTROL_CHARACTERS,
                                     description="Human name of the profile.")
    cpu: float | None = Field(default=None, gt=0, le=256,
                              description="CPU guarantee (and limit, without cpuLimit), in cores; none when omitted.")
    memory: str = Field(pattern=MEMORY_QUANTITY, max_length=20,
                        description="Memory guarantee (and limit, without memoryLimit), e.g. 4Gi.")
    cpu_limit: float | None = Field(default=None, gt=0, le=256,
                                    description="CPU limit, at or above cpu (a burst); cpu when omitted.")
    memory_limit: str | None = Field(default=None, pattern=MEMORY_QUANTITY, max_length=20,
                                     description="Memory limit, at or above memory; memory when omitted.")
    gpu: int = Field(default=0, ge=0, le=16, description="Number of GPUs (of the node pool's GPU type).")
    node_pool: str | None = Field(default=None, pattern=DNS_LABEL, max_length=63,
                                  description="A node pool of the HubClass's catalog (its machine type, GPU type) "
                                              "the servers run on; any user node when omitted.")
    unlimited: Unlimited
    working_dir: str | None = Field(default=None, pattern=r"^/[^\s:]*$", max_length=200,
                                    description="The directory this profile's servers start in.")
    image: str | None = Field(default=None, pattern=IMAGE_REFERENCE, max_length=500,
                              description="Image of this profile; the environment's image when omitted.")
    image_choices: list[Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]] = Field(
        default_factory=list, max_length=20,
        description="Images of the HubClass's catalog users choose from when they start this profile (the first "
                    "is preselected).")
    unlisted_image: bool = Field(default=False, description="Also let users type an image of their own (where "
                                                            "the tier allows it).")
    image_building: bool = Field(
        default=False, description="Also let users build an image from a repository when they start this profile "
                                   "(repo2docker, through the hub's spec.binder); the built image is theirs to "
                                   "choose, as an unlisted image is, so the tier's unlistedImage rule applies.")
    default_url: str | None = Field(default=None, pattern=r"^/\S*$", max_length=200,
                                    description="Where this profile's users land; the environment's when omitted.")
    content: Content | None = Field(default=None, description="A repository pulled into the home on start (the "
                                                               "puller's image comes from the HubClass).")
    allowed_groups: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=50,
        description="Only members of these groups (of the hub's authenticator: OIDC or CILogon groups, GitHub "
                    "teams as org:team) are offered this profile; everyone when empty.")
    default: bool = Field(default=False, description="Preselected profile.")
    sizes: list[ProfileSize] = Field(
        default_factory=list, max_length=20,
        description="Sizes users pick from inside this profile, besides its image (each within the same bounds "
                    "as a profile); the profile's own cpu and memory are then what its default size gives.")
    sizes_label: str = Field(default="Resource Allocation", min_length=1, max_length=100,
                             pattern=NO_CONTROL_CHARACTERS, description="The sizes' label in the spawn form.")
    image_label: str = Field(default="Image", min_length=1, max_length=100, pattern=NO_CONTROL_CHARACTERS,
                             description="The image choices' label in the spawn form.")
    env: EnvVars = Field(default_factory=dict, max_length=20,
                         description="Environment variables of this profile's servers, over the environment's.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            *_LIMIT_RULES,
            _cel("!has(self.image) || !has(self.imageChoices) || size(self.imageChoices) == 0",
                 "a profile has one image or imageChoices, not both", "imageChoices", "FieldValueForbidden"),
            _unique("sizes", "name", "size names must be unique", "FieldValueDuplicate"),
            _cel("!has(self.sizes) || self.sizes.filter(s, has(s.default) && s.default).size() <= 1",
                 "at most one size may be the default", "sizes", "FieldValueInvalid"),
            _env_rule("env"),
        ]},
    )

    _check_env = field_validator("env")(classmethod(lambda cls, v: _env_names(v)))


class ServerResources(ApiModel):
    """A server's guarantee and limit: a guarantee below the limit lets servers burst on a shared node."""

    cpu: float | None = Field(default=None, gt=0, le=256, description="CPU guarantee, in cores; none when omitted.")
    memory: str = Field(pattern=MEMORY_QUANTITY, max_length=20, description="Memory guarantee, e.g. 1Gi.")
    cpu_limit: float | None = Field(default=None, gt=0, le=256, description="CPU limit; cpu when omitted.")
    memory_limit: str | None = Field(default=None, pattern=MEMORY_QUANTITY, max_length=20,
                                     description="Memory limit; memory when omitted.")
    unlimited: Unlimited

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            *_LIMIT_RULES,
        ]},
    )


class NamedServers(ApiModel):
    enabled: bool = Field(default=True, description="Users may start named servers besides their default one.")
    limit_per_user: int | None = Field(default=None, ge=1, le=20,
                                       description="Most named servers a user may have; 5 when omitted (never "
                                                   "unlimited: each one is a server on the hub's quota).")


class SharedDirectory(ApiModel):
    """A directory of the hub's shared volume mounted into users' servers (sharedNFS storage)."""

    name: str = Field(pattern=DNS_LABEL, max_length=63,
                      description="The directory on the share (`_<name>`, beside the users' own directories).")
    mount_path: str = Field(pattern=r"^/[^\s:]*$", max_length=200, description="Where servers see it.")
    read_only: bool = Field(default=True, description="Mounted read-only.")
    who: Literal["everyone", "admins", "groups"] = Field(
        default="everyone", description="Whose servers get it: everyone, the hub's admins, or members of groups.")
    groups: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=50, description="With who: groups, the groups whose members get it.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("self.who != 'groups' || (has(self.groups) && size(self.groups) > 0)",
                 "groups are required when who is groups", "groups", "FieldValueRequired"),
        ]},
    )


class HomeQuotaException(ApiModel):
    """Named users whose homes get another quota than the hub's."""

    users: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=100, description="Usernames, as the hub names them (their home directories are "
                                                  "named after them, per homeDirectory).")
    size: str | None = Field(default=None, pattern=MEMORY_QUANTITY, max_length=20,
                             description="Their quota; omitted with unlimited.")
    unlimited: bool = Field(default=False, description="No quota for them (within the class's maxQuota no longer: "
                                                       "only where the class allows unlimited homes).")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("has(self.size) != (has(self.unlimited) && self.unlimited)",
                 "an exception has either a size or unlimited: true", "size", "FieldValueInvalid"),
        ]},
    )


class HomeQuota(ApiModel):
    """A per-user quota on sharedNFS homes, enforced by the class's home server (its homeServer)."""

    per_user: str = Field(pattern=MEMORY_QUANTITY, max_length=20,
                          description="Most each user's home may hold (e.g. 10Gi); a full home refuses writes.")
    exceptions: list[HomeQuotaException] = Field(default_factory=list, max_length=50,
                                                 description="Users with another quota, or none.")


class Storage(ApiModel):
    """Where users' files live."""

    type: Literal["perUserVolume", "sharedNFS", "none"] = Field(
        default="perUserVolume",
        description="perUserVolume: a volume per user (homeStorage each); sharedNFS: one shared volume of the "
                    "HubClass's shared storage, a directory per user, and sharedDirectories; none: no home that "
                    "outlives the server (workshops, binders).")
    shared_directories: list[SharedDirectory] = Field(
        default_factory=list, max_length=20, description="Directories of the shared volume to mount (sharedNFS).")
    tmp_size: str | None = Field(default=None, pattern=MEMORY_QUANTITY, max_length=20,
                                 description="A /tmp of this size on the node's disk (an emptyDir), per server.")
    home_directory: Literal["username", "escapedUsername"] = Field(
        default="username",
        description="The name of each user's directory on a shared volume (sharedNFS): username is KubeSpawner's "
                    "{username}; escapedUsername its {escaped_username}, the name many providers' charts use. The "
                    "two differ for names that need escaping (e-mail logins): a hub moved from such a chart keeps "
                    "escapedUsername, or its users find an empty home.")
    quota: HomeQuota | None = Field(
        default=None, description="Per-user quotas on the shared home (sharedNFS), where the HubClass runs a home "
                                  "server (sharedStorage.homeServer); refused on a class whose homes sit on a cloud "
                                  "filestore, which has no per-user quotas.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("self.type == 'sharedNFS' || !has(self.sharedDirectories) || size(self.sharedDirectories) == 0",
                 "sharedDirectories need type sharedNFS", "sharedDirectories", "FieldValueForbidden"),
            _cel("self.type == 'sharedNFS' || !has(self.quota)", "a home quota needs type sharedNFS", "quota",
                 "FieldValueForbidden"),
            _unique("sharedDirectories", "mountPath", "mount paths must be unique"),
        ]},
    )


class ServerFile(ApiModel):
    """A file in every user server (the chart's singleuser.extraFiles), such as a tool's default settings."""

    name: str = Field(pattern=DNS_LABEL, max_length=63, description="Its key among the hub's files.")
    mount_path: str = Field(pattern=r"^/[^\s:]*$", max_length=500, description="Where users' servers see it.")
    data: dict[str, Any] | None = Field(
        default=None, description="Structured content, written by the mount path's extension (.json, .yaml, .toml).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    string_data: str | None = Field(default=None, max_length=65536, description="Text content, as written.")
    mode: int | None = Field(default=None, ge=0, le=0o777, description="File mode (0644 when omitted).")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("has(self.data) != has(self.stringData)", "a file has data or stringData, one of them", "data",
                 "FieldValueInvalid"),
            _cel("!self.mountPath.contains('/../') && !self.mountPath.endsWith('/..')",
                 "mountPath is a plain absolute path", "mountPath", "FieldValueInvalid"),
        ]},
    )

    @model_validator(mode="after")
    def _one_content(self) -> ServerFile:
        if (self.data is None) == (self.string_data is None):
            raise ValueError("a file has data or stringData, one of them")
        if "/../" in self.mount_path or self.mount_path.endswith("/.."):
            raise ValueError("mountPath is a plain absolute path")
        return self


class Environment(ApiModel):
    image: str = Field(description="Default user image, e.g. quay.io/org/image:tag.", pattern=IMAGE_REFERENCE,
                       max_length=500)
    default_url: str = Field(default="/lab", pattern=r"^/\S*$", max_length=200,
                             description="Where users land after their server starts.")
    pre_pull: bool | None = Field(
        default=None, description="Pull the hub's images onto each of its user nodes as the node starts (the chart's "
                                  "continuous pre-puller: a small pod per node where the hub's servers may run), so "
                                  "the first server on a new node does not wait for its image. Unset: the class's "
                                  "choice, else on for a dedicated cluster and off on a shared one.")
    home_storage: str = Field(default="10Gi", pattern=MEMORY_QUANTITY, max_length=20,
                              description="Size of each user's home directory.")
    profiles: list[Profile] = Field(default_factory=list, max_length=30,
                                    description="Server options offered at start; empty: one default server.")
    resources: ServerResources | None = Field(
        default=None, description="What each server gets when the hub has no profiles; the operator's defaults "
                                  "when omitted.")
    named_servers: NamedServers | None = Field(default=None, description="Several servers per user.")
    storage: Storage = Field(default_factory=Storage, description="Where users' files live; homeStorage sizes "
                                                                   "a perUserVolume.")
    env: EnvVars = Field(
        default_factory=dict, max_length=50,
        description="Environment variables of every user server, plain strings (a value may name another "
                    "variable as $(NAME), as Kubernetes expands it: s3://bucket/$(JUPYTERHUB_USER)). Names the "
                    "hub sets itself (JUPYTERHUB_*, JPY_*) are refused.")
    files: list[ServerFile] = Field(default_factory=list, max_length=20,
                                    description="Files in every user server, beside its class's.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _unique("files", "name", "file names must be unique", "FieldValueDuplicate"),
            # has(): profiles may be omitted (no default in the schema), and CEL fails on a missing key.
            _cel("!has(self.profiles) || self.profiles.filter(p, has(p.default) && p.default).size() <= 1",
                 "at most one profile may be the default", "profiles", "FieldValueInvalid"),
            _unique("profiles", "name", "profile names must be unique", "FieldValueDuplicate"),
            _env_rule("env"),
        ]},
    )

    _check_env = field_validator("env")(classmethod(lambda cls, v: _env_names(v)))


class Budget(ApiModel):
    """A monthly cloud budget: notices at 50, 90 and 100 % of it (each once a month), and optionally a stop."""

    monthly_cloud_usd: float = Field(alias="monthlyCloudUSD", gt=0, le=10_000_000,
                                     description="Cloud cost in USD the hub may run up in a calendar month (UTC).")
    enforce: bool = Field(default=False, description="At 100 %: no new user servers (running ones are left alone) "
                                                     "until the month closes or the budget rises.")


class Billing(ApiModel):
    monthly_fee_usd: float | None = Field(
        default=None, alias="monthlyFeeUSD", ge=0,
        description="Custom monthly fee in USD; required for partnership hubs, overrides the price table otherwise.")
    setup_fee_usd: float = Field(default=0, alias="setupFeeUSD", ge=0,
                                 description="One-time fee in USD, invoiced after delivery.")
    cost_center: str | None = Field(default=None, max_length=100, description="Customer's reference for invoices.")
    budget: Budget | None = Field(default=None, description="Optional monthly cloud budget, watched by the operator.")


class Window(ApiModel):
    """A time-boxed hub (a workshop, a course, an event): delivered ahead of its start, scaled down after its end
    (its data kept), billed for its window."""

    start: dt.datetime = Field(description="When users start using the hub (RFC 3339).")
    end: dt.datetime = Field(description="When the hub is scaled down (RFC 3339).")
    lead_hours: int = Field(default=24, ge=0, le=24 * 30,
                            description="How many hours before the start the hub is delivered.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("self.end > self.start", "end must be after start", "end", "FieldValueInvalid"),
            _cel("self.end - self.start <= duration('8760h')", "a window lasts at most a year (365 days)", "end",
                 "FieldValueInvalid"),
        ]},
    )


class Decommission(ApiModel):
    """What deleting the hub keeps of what the community owns."""

    volumes: Literal["Retain", "Delete"] = Field(
        default="Retain", description="The hub's home directories and database: Retain keeps their volumes "
                                      "(released, labelled with the hub) after the hub's namespace goes; Delete "
                                      "lets them go with it.")
    buckets: Literal["Retain", "Delete"] = Field(
        default="Retain", description="The hub's buckets (spec.storage.buckets): Retain keeps them, with their "
                                      "objects, in the cloud account after the hub goes (the operator forgets "
                                      "them); Delete deletes them and their objects.")


class Bucket(ApiModel):
    """An object-storage bucket of the hub, which every user's server may use (through the cloud's workload
    identity, no key in the pod), named in the users' environment."""

    name: str = Field(description="Its name within the hub (the cloud's bucket name is derived from it and the hub).",
                      pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$", max_length=20)
    type: Literal["scratch", "persistent"] = Field(
        description="scratch: objects expire after expireAfterDays, the URL is SCRATCH_BUCKET; persistent: kept, "
                    "PERSISTENT_BUCKET. Both end in the user's name, as the provider's users know them.")
    expire_after_days: int = Field(default=7, ge=1, le=365,
                                   description="scratch only: days after which an object is deleted.")
    readers: list[Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9:@._/+=,-]+$")]] = Field(
        default_factory=list, max_length=10,
        description="Principals outside the hub that may read it, in the cloud's own form (GCP user:a@b.org or "
                    "serviceAccount:..., an AWS role ARN, an Azure object ID).")


class ObjectStorage(ApiModel):
    buckets: list[Bucket] = Field(default_factory=list, max_length=2,
                                  description="At most one scratch and one persistent bucket.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("self.buckets.all(a, self.buckets.exists_one(b, b.type == a.type))",
                 "at most one scratch and one persistent bucket", "buckets", "FieldValueInvalid"),
            _cel("self.buckets.all(a, self.buckets.exists_one(b, b.name == a.name))",
                 "bucket names must be unique", "buckets", "FieldValueInvalid"),
        ]},
    )


class DaskSize(ApiModel):
    cores: float = Field(gt=0, le=64, description="CPU cores (request and limit).")
    memory: str = Field(pattern=MEMORY_QUANTITY, max_length=20, description="Memory (request and limit), e.g. 4Gi.")


class Dask(ApiModel):
    """A Dask Gateway beside the hub: its users start Dask clusters from their notebooks
    (``dask_gateway.Gateway()`` with no arguments), authenticated through the hub."""

    enabled: bool = Field(default=True, description="Run the gateway; false removes it and its clusters.")
    worker: DaskSize = Field(default_factory=lambda: DaskSize(cores=1, memory="4Gi"),
                             description="Each worker's size; within the archetype's largest server.")
    scheduler: DaskSize = Field(default_factory=lambda: DaskSize(cores=1, memory="2Gi"),
                                description="Each cluster's scheduler's size; within the archetype's largest server.")
    max_cores_per_cluster: float = Field(default=20, gt=0, le=2048,
                                         description="Most cores one user's cluster may use, its workers together.")
    max_memory_per_cluster: str = Field(default="80Gi", pattern=MEMORY_QUANTITY, max_length=20,
                                        description="Most memory one user's cluster may use.")
    idle_timeout_minutes: int = Field(default=30, ge=5, le=1440,
                                      description="A cluster idle this long is shut down (5 minutes to a day: an "
                                                  "idle cluster holds its cores on the hub's quota).")
    max_clusters_per_user: int = Field(default=2, ge=1, le=10, description="Clusters one user may run at once.")


class Binder(ApiModel):
    """Image building inside the hub (2i2c-org/binderhub-service: BinderHub as a service of the hub's JupyterHub,
    one release in the hub's namespace): users build an image from a repository when they start a server (a
    profile's imageBuilding), pushed to the registry the HubClass names. Only a class with binder allows it."""

    enabled: bool = Field(default=True, description="Run the builder; false removes it (built images stay in the "
                                                    "provider's registry).")
    allowed_repositories: list[Annotated[str, Field(min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS)]] = (
        Field(default_factory=list, max_length=50,
              description="GitHub repositories users may build from, as regular expressions on owner/name "
                          "(BinderHub's GitHubRepoProvider.allowed_specs); any when empty."))
    landing_page: bool = Field(
        default=False,
        description="A Binder hub: the Binder page is the hub's landing page, where a visitor gives a repository and "
                    "gets a server of the image built from it (BinderHub's own page, at /services/binder/). Its "
                    "servers run that image, so the hub has no profiles; with auth.provider none, nobody logs in.")


class Lifecycle(ApiModel):
    """Dates the operator watches: the contract's end, inactivity, a time-boxed window, and decommissioning."""

    contract_end: dt.date | None = Field(
        default=None, description="Last day of the contract (UTC). A reminder goes out reminderDays before; after "
                                  "the end a condition says so, and graceDays later the hub is scaled down (its data "
                                  "kept) until the date moves or the hub is deleted.")
    reminder_days: int = Field(default=30, ge=1, le=365, description="Days before contractEnd the reminder goes out.")
    grace_days: int = Field(default=14, ge=0, le=365, description="Days after contractEnd before the scale-down.")
    inactive_days: int | None = Field(
        default=None, ge=1, le=3650, description="A hub with no active user for this many days gets a condition "
                                                 "and one email; unset: not watched.")
    window: Window | None = Field(default=None, description="Start and end of a time-boxed hub.")
    decommission: Decommission = Field(default_factory=Decommission, description="What deleting the hub keeps.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("!has(self.window) || !has(self.contractEnd)",
                 "a time-boxed hub (window) has no contractEnd: its window's end is when it is scaled down",
                 "window", "FieldValueForbidden"),
        ]},
    )


class CommunityHubSpec(ApiModel):
    community: Community = Field(description="Who the hub serves.")
    placement: Placement = Field(description="Where the hub runs.")
    hub: Hub = Field(description="The JupyterHub release.")
    auth: Auth = Field(description="Who may log in.")
    environment: Environment = Field(description="The software environment users get.")
    billing: Billing = Field(default_factory=Billing, description="Fees and references for invoices.")
    lifecycle: Lifecycle = Field(default_factory=Lifecycle,
                                 description="Contract end, inactivity, time-boxed window and decommissioning.")
    storage: ObjectStorage = Field(default_factory=ObjectStorage, description="Object storage for the hub's users.")
    dask: Dask | None = Field(default=None, description="A Dask Gateway for the hub's users (daskhubs).")
    binder: Binder | None = Field(default=None, description="Image building inside the hub, where its HubClass "
                                                            "allows it (binder).")
    hub_class_name: str | None = Field(
        default=None, pattern=DNS_NAME, max_length=253,
        description="The HubClass (the provider's platform layer: chart, base values, catalogs, what tenants may "
                    "set) this hub is built on; the class annotated hubs.2i2c.org/is-default-class=true when "
                    "omitted, else none.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("self.community.archetype != 'partnership' || (has(self.billing) && "
                 "has(self.billing.monthlyFeeUSD))",
                 "billing.monthlyFeeUSD is required for partnership hubs (custom price)", "billing",
                 "FieldValueRequired"),
            _cel("!has(self.environment.profiles) || !self.environment.profiles.exists(p, has(p.imageBuilding) && "
                 "p.imageBuilding) || (has(self.binder) && (!has(self.binder.enabled) || self.binder.enabled))",
                 "a profile with imageBuilding needs spec.binder (the builder its users' builds go to)", "binder",
                 "FieldValueRequired"),
            _cel("self.auth.provider != 'none' || (has(self.binder) && has(self.binder.landingPage) && "
                 "self.binder.landingPage && (!has(self.binder.enabled) || self.binder.enabled))",
                 "auth.provider none needs a Binder hub (binder.landingPage: true): with no login, its Binder page "
                 "is the only way to a server", "binder", "FieldValueRequired"),
            _cel("!has(self.binder) || !has(self.binder.landingPage) || !self.binder.landingPage || "
                 "!has(self.environment.profiles) || size(self.environment.profiles) == 0",
                 "a Binder hub (binder.landingPage) has no profiles: its servers run the image built from the "
                 "repository a visitor gives", "environment.profiles", "FieldValueForbidden"),
        ]},
    )


# ------------------------------------------------------------------------------------- status
ConditionType = Literal["ClusterReady", "HubReady", "SSOReady", "EnvironmentReady", "DaskReady", "BinderReady",
                        "Ready",
                        "Delivered", "UsageReported", "CostReported", "WithinBudget", "WithinQuota", "ContractActive",
                        "UsersActive", "InWindow"]
Phase = Literal["Pending", "Scheduled", "ProvisioningCluster", "DeployingHub", "ConfiguringSSO",
                "ConfiguringEnvironment", "Available", "Degraded", "ScaledDown", "Deleting"]


class Condition(ApiModel):
    """The state of one delivery step, after the Kubernetes API conventions."""

    type: str = Field(description="Condition type, e.g. HubReady.", max_length=316)
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason for the last transition.", max_length=1024,
                        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = Field(default="", max_length=32768, description="Human-readable details.")
    last_transition_time: str = Field(description="When the status last changed (RFC 3339).",
                                      json_schema_extra={"format": "date-time"})
    observed_generation: int | None = Field(default=None, ge=0,
                                            description="The .metadata.generation the condition was set for.")


class ClusterStatus(ApiModel):
    name: str = Field(description="Cluster the hub runs on.")
    endpoint: str | None = Field(default=None, description="API endpoint of a dedicated cluster.")
    kubeconfig_secret: str | None = Field(default=None, description="Secret holding its kubeconfig.")
    namespace: str | None = Field(default=None, description="Namespace of the hub on that cluster.")
    inputs_hash: str | None = Field(default=None, description="Hash of the Terraform inputs last applied.")


class ReleaseStatus(ApiModel):
    name: str = Field(description="Helm release name.")
    revision: int | None = Field(default=None, description="Deployed revision.")
    chart: str | None = Field(default=None, description="Chart name and version.")
    values_hash: str | None = Field(default=None, description="Hash of the rendered values last deployed.")
    rollout: str | None = Field(default=None, description="The FleetRollout whose target this release carries.")
    generations: dict[str, int] = Field(
        default_factory=dict, description="Its Deployments' generations right after helm deployed it: a higher one "
                                          "is an edit made outside the operator, which deploys the release again.")
    deployed_at: str | None = Field(default=None, description="When helm last deployed it (RFC 3339): the "
                                                              "rollout deadline counts from here.")
    ingress: bool | None = Field(default=None, description="On a class with a Gateway: whether the release still "
                                                           "carries an Ingress (kept until the route is accepted).")


class NamesStatus(ApiModel):
    """The names the hub's objects were given, recorded once and kept (see communityhub.delivery.names)."""

    namespace: str = Field(description="The hub's namespace on its cluster.")
    release: str = Field(description="Helm release name.")
    cluster_stem: str = Field(description="Stem of a dedicated cluster's name (Terraform's hub_name).")


class HubClassRef(ApiModel):
    name: str = Field(description="The HubClass.")
    generation: int | None = Field(default=None, description="Its .metadata.generation the release carries.")


class EstimatePool(ApiModel):
    name: str = Field(description="Node pool.")
    machine_type: str = Field(description="Its machine type.")
    min: int = Field(description="Nodes at its minimum (all zones).")
    max: int = Field(description="Nodes at its maximum (all zones).")
    usd_per_hour: float | None = Field(default=None, description="Catalog price of a node-hour; absent: unpriced.")


class EstimateStatus(ApiModel):
    """A dedicated hub's expected monthly cost, written before Terraform applies anything."""

    monthly_cloud_usd_min: float = Field(alias="monthlyCloudUSDMin",
                                         description="Cloud cost a month with every node pool at its minimum.")
    monthly_cloud_usd_max: float = Field(alias="monthlyCloudUSDMax",
                                         description="Cloud cost a month with every node pool at its maximum.")
    monthly_fee_usd: float = Field(alias="monthlyFeeUSD", description="The hub's monthly fee.")
    pass_through: bool = Field(description="Whether the cloud cost is passed on in the invoice.")
    node_pools: list[EstimatePool] = Field(default_factory=list, description="What was priced.")
    inputs_hash: str | None = Field(default=None, description="The Terraform inputs the plan below is for.")
    plan: str | None = Field(default=None, description="The plan's counts, when an approval is required.")
    approval_id: str | None = Field(default=None, description="What hubs.2i2c.org/approved-estimate must say.")


class KeptVolume(ApiModel):
    claim: str = Field(description="The claim in the hub's namespace.")
    volume: str = Field(description="The PersistentVolume bound to it.")
    capacity: str = Field(default="", description="Its size.")


class DeletedClient(ApiModel):
    """The CILogon client the operator registered for the hub, at its deletion."""

    client_id: str = Field(description="Its client_id at CILogon.")
    deleted: bool = Field(description="Whether CILogon deleted it.")
    why: str | None = Field(default=None, description="Why not, where it did not (revoke it by hand).")


class DecommissionStatus(ApiModel):
    """Recorded when the deletion starts, before the hub's namespace goes: what the final condition and the
    DECOMMISSIONED email list."""

    cluster: str = Field(default="-", description="The cluster the volumes are on.")
    volumes: list[KeptVolume] = Field(default_factory=list, description="The hub's volumes, kept unless "
                                                                        "lifecycle.decommission.volumes is Delete.")
    cilogon_client: DeletedClient | None = Field(default=None, description="The CILogon client the operator "
                                                                           "registered, and whether it was deleted.")


class BucketStatus(ApiModel):
    name: str = Field(description="The bucket's name in spec.storage.buckets.")
    type: str = Field(description="scratch or persistent.")
    url: str = Field(description="Its URL (gs://, s3://, az://), as the users' environment has it.")


class BucketsStatus(ApiModel):
    """The hub's buckets as Terraform made them (their own state, apart from a dedicated cluster's)."""

    cloud: str = Field(description="Whose cloud holds them: the hub's cluster's.")
    inputs_hash: str = Field(description="Terraform runs again only when this changes.")
    buckets: list[BucketStatus] = Field(default_factory=list, description="Each bucket and its URL.")
    service_account_annotations: dict[str, str] = Field(
        default_factory=dict, description="What binds the users' ServiceAccount to the buckets' cloud identity.")
    pod_labels: dict[str, str] = Field(default_factory=dict,
                                       description="Labels the users' pods carry for that identity (Azure).")


class DaskStatus(ApiModel):
    release: str = Field(description="The hub's Dask Gateway release, in the hub's namespace.")
    values_hash: str = Field(description="Hash of the values it was installed with; helm runs when they change.")


class BinderStatus(ApiModel):
    release: str = Field(description="The hub's binderhub-service release, in the hub's namespace.")
    values_hash: str = Field(description="Hash of the values it was installed with (the registry password out of "
                                         "it: its Secret's resourceVersion in); helm runs when it changes.")
    image_prefix: str = Field(description="Where the hub's built images are pushed (the class's rule, the hub's "
                                          "names in it).")


class HomesUsage(ApiModel):
    """What the home server's exporters said last: totals, and who is at or near their quota (directory names)."""

    homes: int = Field(description="Home directories on the share.")
    used_bytes: int = Field(description="What they hold together.")
    over_quota: list[str] = Field(default_factory=list, description="Homes at their quota (writes refused).")
    near_quota: list[str] = Field(default_factory=list, description="Homes past 90% of their quota.")
    disk_size_bytes: int | None = Field(default=None, description="The server's disk.")
    disk_free_bytes: int | None = Field(default=None, description="What is left on it.")


class HomesStatus(ApiModel):
    release: str = Field(description="The hub's home server (jupyterhub-home-nfs), in the hub's namespace.")
    values_hash: str = Field(description="Hash of the values it was installed with; helm runs when they change.")
    volume: str = Field(description="The PersistentVolume of the hub's homes: the server's export.")
    share: str = Field(description="The directory of the server's disk that holds the homes.")
    usage: HomesUsage | None = Field(default=None, description="Per-user home usage, from the server's exporter.")


class ServingStatus(ApiModel):
    revision: str = Field(description="The values hash of the release the last serving check checked.")
    checked_at: str = Field(description="When it ran (RFC 3339).")
    ok: bool = Field(description="Whether it passed (see the ServingUsers condition).")
    seconds: float | None = Field(default=None, description="Seconds to a kernel that ran code, where it passed.")


class CommunityHubStatus(ApiModel):
    observed_generation: int | None = Field(default=None, description="Last .metadata.generation acted on.")
    phase: Phase | None = Field(default=None, description="A summary for humans; conditions are the contract.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Delivery steps: ClusterReady, HubReady, SSOReady, EnvironmentReady, "
                                          "Ready, Delivered.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})
    url: str | None = Field(default=None, description="URL of the hub.")
    cluster: ClusterStatus | None = Field(default=None, description="Where the hub runs.")
    release: ReleaseStatus | None = Field(default=None, description="The hub's Helm release.")
    names: NamesStatus | None = Field(default=None, description="Names of the hub's objects, fixed once used.")
    hub_class: HubClassRef | None = Field(default=None, description="The HubClass the deployed values came from.")
    delivered_at: str | None = Field(default=None, description="When the DELIVERED email went out (RFC 3339).")
    estimate: EstimateStatus | None = Field(default=None, description="Expected monthly cost of a dedicated hub.")
    decommission: DecommissionStatus | None = Field(default=None, description="What the deletion keeps.")
    buckets: BucketsStatus | None = Field(default=None, description="The hub's buckets (spec.storage.buckets).")
    dask: DaskStatus | None = Field(default=None, description="The hub's Dask Gateway (spec.dask).")
    homes: HomesStatus | None = Field(default=None, description="The hub's home server, where its class runs one "
                                                                "(sharedStorage.homeServer).")
    binder: BinderStatus | None = Field(default=None, description="The hub's image builder (spec.binder).")
    serving: ServingStatus | None = Field(default=None, description="The last serving check (ServingUsers).")
    shard: str | None = Field(default=None, description="The operator shard that serves the hub (its label "
                                                        "hubs.2i2c.org/shard); absent with one shard.")


class CommunityHub(ApiModel):
    """A community's managed JupyterHub: its cluster, SSO, software environment and billing."""

    api_version: Literal["hubs.2i2c.org/v1alpha1"] = Field(default=API_VERSION)
    kind: Literal["CommunityHub"] = Field(default=KIND)
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: CommunityHubSpec
    status: CommunityHubStatus = Field(default_factory=CommunityHubStatus)

    model_config = ConfigDict(extra="ignore")


# ---------------------------------------------------------------------------------- FleetRollout
ROLLOUT_KIND = "FleetRollout"
ROLLOUT_PLURAL = "fleetrollouts"
ROLLOUT_SINGULAR = "fleetrollout"
ROLLOUT_SHORT_NAMES = ["frollout"]
#: A rollout's name is the value of a label on the hubs it reaches: at most a label value's 63 characters.
ROLLOUT_NAME_RULES = [
    {"rule": "self.metadata.name.size() <= 63",
     "message": "metadata.name must be at most 63 characters (it is a label value on the hubs it reaches)",
     "reason": "FieldValueInvalid"},
]


class RolloutTarget(ApiModel):
    """What the rollout brings to each hub it reaches (a hub's own spec.hub.chart.version and spec.hub.values
    still win over it)."""

    chart_version: str | None = Field(
        default=None, max_length=64, pattern=r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$",
        description="JupyterHub chart version, instead of the operator's default.")
    values: dict[str, Any] | None = Field(
        default=None, min_length=1, description="Helm values merged over the rendered ones (under the hub's own "
                                          "spec.hub.values): new defaults for the fleet, a new default image.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    hub_class: str | None = Field(
        default=None, pattern=DNS_NAME, max_length=253,
        description="A HubClass: while this rollout is not complete, a change to the class reaches the class's hubs "
                    "wave by wave (hubs not reached yet keep the release they run) instead of at their next pass; "
                    "only hubs of this class are in its waves.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("has(self.chartVersion) || has(self.values) || has(self.hubClass)",
                 "a target needs a chartVersion, values or a hubClass", reason="FieldValueRequired"),
            _cel("self == oldSelf", "a rollout's target cannot change: create a new FleetRollout (deleting this "
                                    "one rolls it back)", reason="FieldValueForbidden"),
        ]},
    )


class RolloutWave(ApiModel):
    """A group of hubs, selected by their labels; a wave starts once every hub of the waves before it is Ready
    on the target."""

    name: str = Field(description="Wave name, e.g. staging.", pattern=DNS_LABEL, max_length=63)
    match_labels: dict[str, Annotated[str, Field(max_length=63)]] = Field(
        description="Labels a CommunityHub must carry to be in this wave (a hub is in the first wave it matches).",
        min_length=1, max_length=20)


class FleetRolloutSpec(ApiModel):
    target: RolloutTarget = Field(description="What reaches the hubs.")
    waves: list[RolloutWave] = Field(min_length=1, max_length=20, description="Waves, in order.")
    max_per_cluster: int = Field(default=2, ge=1, le=100,
                                 description="Hubs of one cluster being upgraded at once (its API server's limits).")
    paused: bool = Field(default=False, description="No hub is started while true; those started finish.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("self.waves.all(w, self.waves.exists_one(v, v.name == w.name))", "wave names must be unique",
                 "waves", "FieldValueDuplicate"),
        ]},
    )


class WaveStatus(ApiModel):
    name: str = Field(description="Wave name.")
    total: int = Field(default=0, description="Hubs in the wave.")
    done: int = Field(default=0, description="Hubs Ready on the target.")
    in_flight: int = Field(default=0, description="Hubs started and not yet Ready on the target.")
    failed: list[str] = Field(default_factory=list, description="Hubs (namespace/name) that failed on the target.")


class FleetRolloutStatus(ApiModel):
    observed_generation: int | None = Field(default=None, description="Last .metadata.generation acted on.")
    phase: Literal["Progressing", "Paused", "Halted", "Complete", "Superseded"] | None = Field(
        default=None, description="Progressing, Paused, Halted (a hub failed: later waves untouched), Complete, "
                                  "or Superseded by a newer rollout.")
    wave: str | None = Field(default=None, description="The wave in progress (the last one once Complete).")
    progress: str | None = Field(default=None, description="Hubs Ready on the target / hubs in the waves.")
    waves: list[WaveStatus] = Field(default_factory=list, description="Each wave's figures.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready (Complete), Reconciling and Stalled (Halted), as kstatus reads.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})


class FleetRollout(ApiModel):
    """A fleet-wide change (a chart version, new default values) brought to the hubs in waves, each gated on
    the health of the one before."""

    api_version: Literal["hubs.2i2c.org/v1alpha1"] = Field(default=API_VERSION)
    kind: Literal["FleetRollout"] = Field(default=ROLLOUT_KIND)
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: FleetRolloutSpec
    status: FleetRolloutStatus = Field(default_factory=FleetRolloutStatus)

    model_config = ConfigDict(extra="ignore")


# ------------------------------------------------------------------------------------- HubClass
HUB_CLASS_KIND = "HubClass"
HUB_CLASS_PLURAL = "hubclasses"
HUB_CLASS_SINGULAR = "hubclass"
HUB_CLASS_SHORT_NAMES = ["hclass"]
#: On the HubClass a CommunityHub without spec.hubClassName gets (as storageclass.kubernetes.io/is-default-class).
DEFAULT_CLASS_ANNOTATION = f"{GROUP}/is-default-class"
Tier = Literal["general", "premier", "essential"]
Archetype = Literal["education", "research", "partnership"]


class ClassChart(ApiModel):
    """The chart the class's hubs run; each field the operator's setting when omitted."""

    name: str | None = Field(default=None, min_length=1, max_length=500,
                             description="Chart name in the repository (e.g. jupyterhub), or a local archive.")
    repository: str | None = Field(default=None, pattern=r"^(https|oci)://\S+$", max_length=500,
                                   description="Helm repository URL.")
    version: str | None = Field(
        default=None, max_length=64, pattern=r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$",
        description="Chart version (a hub's own spec.hub.chart.version and a FleetRollout's win over it).")


class CatalogGpu(ApiModel):
    type: str = Field(min_length=1, max_length=100, description="Accelerator type, e.g. nvidia-tesla-t4.")
    count: int = Field(ge=1, le=16, description="GPUs per node.")


class CatalogNodePool(ApiModel):
    """A kind of node the class's hubs may place user servers on."""

    name: str = Field(pattern=DNS_LABEL, max_length=63, description="Name tenants choose it by.")
    machine_type: str = Field(min_length=1, max_length=63, description="Cloud machine type, e.g. n2-highmem-4.")
    node_selector: dict[str, Annotated[str, Field(max_length=63)]] = Field(
        default_factory=dict, max_length=10,
        description="Labels of its nodes; node.kubernetes.io/instance-type=<machineType> when empty.")
    cpu: float = Field(gt=0, le=512, description="CPU a user server can get on one node (its allocatable).")
    memory: str = Field(pattern=MEMORY_QUANTITY, max_length=20, description="Memory a user server can get on one "
                                                                            "node (its allocatable).")
    gpu: CatalogGpu | None = Field(default=None, description="Its accelerators, if any.")


class CatalogImage(ApiModel):
    """A user image tenants may offer."""

    name: str = Field(pattern=DNS_LABEL, max_length=63, description="Name tenants choose it by.")
    reference: str = Field(pattern=IMAGE_REFERENCE, max_length=500, description="Image reference.")
    description: str | None = Field(default=None, max_length=200, pattern=NO_CONTROL_CHARACTERS,
                                    description="What users are shown.")
    default_url: str | None = Field(default=None, pattern=r"^/\S*$", max_length=200,
                                    description="Where its users land (an RStudio image's /rstudio, say); the "
                                                "profile's or the environment's when omitted.")
    working_dir: str | None = Field(default=None, pattern=r"^/[^\s:]*$", max_length=200,
                                    description="The directory its servers start in.")
    pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="Its image pull policy (Always for a tag that moves); the chart's when omitted.")
    init_containers: list[dict[str, Any]] = Field(
        default_factory=list, max_length=5,
        description="Init containers its servers start with (a puller of the course's content, say): the "
                    "provider's, as KubeSpawner takes them; the Pod Security level of the hub's namespace applies.",
        json_schema_extra={"items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                     "description": "A container, as the Kubernetes API spells it."}})


class TierRules(ApiModel):
    """What hubs of one membership tier may use of the class's catalogs."""

    node_pools: list[Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]] | None = Field(
        default=None, max_length=50, description="Node pools of the catalog it may use; all when omitted.")
    images: list[Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]] | None = Field(
        default=None, max_length=100, description="Images of the catalog it may offer; all when omitted.")
    gpu: bool = Field(default=True, description="Whether its profiles may ask for GPUs.")
    own_images: bool = Field(default=True, description="Whether profiles may name images outside the catalog.")
    unlisted_image: bool = Field(default=True, description="Whether profiles may offer users a free image choice.")
    max_profiles: int | None = Field(default=None, ge=1, le=30, description="Most profiles a hub may offer.")
    dask: bool = Field(default=True, description="Whether its hubs may run a Dask Gateway (spec.dask).")
    unlimited: bool = Field(default=False, description="Whether its servers may have no CPU or memory limit "
                                                       "(environment.resources, profiles' and sizes' unlimited).")


class Tiers(ApiModel):
    general: TierRules | None = Field(default=None, description="Rules of general membership.")
    premier: TierRules | None = Field(default=None, description="Rules of premier membership.")
    essential: TierRules | None = Field(default=None, description="Rules of essential membership.")


class NamespaceQuota(ApiModel):
    """What all of one hub's pods and claims together may reserve on a shared cluster: the ResourceQuota of the
    hub's namespace (a user server beyond it is refused by Kubernetes). Each field the operator's default for the
    archetype when omitted."""

    cpu: float | None = Field(default=None, gt=0, le=100_000, description="requests.cpu, in cores.")
    memory: str | None = Field(default=None, pattern=MEMORY_QUANTITY, max_length=20, description="requests.memory.")
    gpus: int | None = Field(default=None, ge=0, le=10_000, description="requests.nvidia.com/gpu.")
    storage: str | None = Field(default=None, pattern=MEMORY_QUANTITY, max_length=20,
                                description="requests.storage: every claim's size together (homes, the database, "
                                            "the shared home).")
    claims: int | None = Field(default=None, ge=1, le=100_000, description="persistentvolumeclaims.")
    pods: int | None = Field(default=None, ge=1, le=100_000, description="pods.")


class ArchetypeLimits(ApiModel):
    """One archetype's bounds; each field the operator's default when omitted (docs/operations.md, "Capacity")."""

    cpu: float | None = Field(default=None, gt=0, le=512, description="Most CPU one user server may ask for (its "
                                                                     "limit).")
    memory: str | None = Field(default=None, pattern=MEMORY_QUANTITY, max_length=20,
                               description="Most memory one user server may ask for.")
    hub_cpu: float | None = Field(default=None, gt=0, le=64, description="Most CPU the hub pod may request.")
    hub_memory: str | None = Field(default=None, pattern=MEMORY_QUANTITY, max_length=20,
                                   description="Most memory the hub pod may request.")
    home_storage: str | None = Field(default=None, pattern=MEMORY_QUANTITY, max_length=20,
                                     description="Largest environment.homeStorage.")
    dask_cores: float | None = Field(default=None, gt=0, le=4096,
                                     description="Most cores one user's Dask cluster may use "
                                                 "(dask.maxCoresPerCluster).")
    quota: NamespaceQuota | None = Field(default=None, description="The hub namespace's ResourceQuota on a shared "
                                                                   "cluster.")


class Archetypes(ApiModel):
    education: ArchetypeLimits | None = Field(default=None, description="Limits of education hubs.")
    research: ArchetypeLimits | None = Field(default=None, description="Limits of research hubs.")
    partnership: ArchetypeLimits | None = Field(default=None, description="Limits of partnership hubs.")


class HomeServer(ApiModel):
    """The provider's in-cluster NFS server for a hub's homes, with per-user quotas (2i2c-org/jupyterhub-home-nfs):
    one release of the chart per hub namespace. The operator renders its quotas, its paths and its names; the
    class says the rest (resources, the cloud disk)."""

    chart: ClassChart = Field(default_factory=ClassChart,
                              description="The jupyterhub-home-nfs chart; the operator's setting when omitted.")
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Base values of that chart (the provider's: resources, nodeSelector, eks/gke/openstack.enabled).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    per_hub_values: dict[str, Any] = Field(
        default_factory=dict,
        description="Values of that chart with each hub's names filled in, as in the class's perHubValues: the hub's "
                    "own pre-made disk (gke.volumeId: projects/p/zones/z/disks/homes-{hub.name}). Two hubs whose "
                    "values name the same disk are refused, the second one.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    share_directory: str = Field(
        default="homes", pattern=r"^[A-Za-z0-9{}._-]+$", max_length=100,
        description="The directory of the server's disk that holds the hub's homes ({hub.name} filled in): a hub "
                    "moved from a chart that kept homes under its name keeps them there.")
    default_quota: str = Field(default="10Gi", pattern=MEMORY_QUANTITY, max_length=20,
                               description="Each user's quota where a hub sets none.")
    max_quota: str | None = Field(default=None, pattern=MEMORY_QUANTITY, max_length=20,
                                  description="Largest quota a hub may give one user (exceptions too); any when "
                                              "omitted.")
    unlimited: bool = Field(default=False, description="Whether a hub may exempt users from quotas.")
    mount_options: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=lambda: ["soft", "noatime", "vers=4.2"], max_length=20,
        description="NFS mount options of the hub's home volume.")


class SharedStorage(ApiModel):
    """The shared volume a sharedNFS hub gets: one claim in the hub's namespace, of a ReadWriteMany StorageClass
    (Filestore on GKE, EFS on EKS, Azure Files on AKS, an NFS provisioner elsewhere)."""

    storage_class_name: str = Field(pattern=DNS_NAME, max_length=253,
                                    description="A StorageClass whose volumes many nodes mount (ReadWriteMany); with "
                                                "homeServer, the class of that server's own disk (ReadWriteOnce "
                                                "will do), where its values name no pre-made disk.")
    size: str = Field(default="100Gi", pattern=MEMORY_QUANTITY, max_length=20, description="Size of a hub's share.")
    home_server: HomeServer | None = Field(
        default=None,
        description="Serve each hub's share from its own NFS server with per-user quotas (the jupyterhub-home-nfs "
                    "chart, a release in the hub's namespace) instead of a claim of storageClassName: its disk is a "
                    "claim of size, and the hub's homes its export. Without it, a hub's spec.environment.storage."
                    "quota is refused: a cloud filestore (EFS, Filestore) has no per-user quotas.")


class BinderRegistry(ApiModel):
    """The registry the class's hubs push built images to: the provider's."""

    server: str = Field(pattern=r"^https://[^\s/]+/?$", max_length=253,
                        description="The registry's URL (https://quay.io), as a docker client logs in to it.")
    image_prefix: str = Field(
        pattern=r"^[a-z0-9][A-Za-z0-9./_{}-]*$", max_length=200,
        description="Where a hub's images go, {hub.name}, {hub.namespace} and {hub.clusterNamespace} filled in "
                    "(quay.io/org/{hub.clusterNamespace}-): one hub's rule must not name another's images, so it "
                    "holds at least one of them. The tenant cannot set it.")
    credentials_secret: str = Field(
        pattern=r"^[a-z0-9{}.-]+$", max_length=253,
        description="A Secret in the operator's namespace with the push login (keys username and password), "
                    "{hub.name} and {hub.namespace} filled in for a login per hub. The operator gives it to the "
                    "hub's builder only, and never shows it.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("self.imagePrefix.contains('{hub.name}') || self.imagePrefix.contains('{hub.namespace}') || "
                 "self.imagePrefix.contains('{hub.clusterNamespace}')",
                 "imagePrefix must hold {hub.name}, {hub.namespace} or {hub.clusterNamespace}: without one, every "
                 "hub's builds would overwrite each other's images", "imagePrefix", "FieldValueInvalid"),
        ]},
    )


class BuildPool(ApiModel):
    """The nodes builds run on: the docker API the builds talk to runs there privileged (a DaemonSet), so they
    are the builds' alone, and tainted so that no other pod lands on them by chance."""

    node_selector: dict[str, Annotated[str, Field(pattern=r"^[A-Za-z0-9._{}-]*$", max_length=100)]] = Field(
        min_length=1, max_length=5,
        description="The labels of the pool's nodes, which builds and the docker API select; {hub.name} and "
                    "{hub.namespace} filled in for a pool per hub (2i2c/hub-name: '{hub.name}'), where builds of "
                    "one hub never share a node with another's.")
    taint: str = Field(
        default="hub.jupyter.org/dedicated=user", pattern=r"^([a-z0-9.-]+/)?[A-Za-z0-9._-]+=[A-Za-z0-9._-]*$",
        max_length=316,
        description="The NoSchedule taint (key=value) every node of the pool carries; BinderHub's build pods "
                    "tolerate only hub.jupyter.org/dedicated=user (and its _ spelling), so that is the default. A "
                    "pool node without it refuses builds (BuildPoolUntainted).")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _cel("self.nodeSelector.all(k, k.matches('^([a-z0-9.-]+/)?[A-Za-z0-9._-]+$') && size(k) <= 316)",
                 "nodeSelector keys are label keys", "nodeSelector", "FieldValueInvalid"),
        ]},
    )

    @field_validator("node_selector")
    @classmethod
    def _label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.match(r"^([a-z0-9.-]+/)?[A-Za-z0-9._-]+$", key) or len(key) > 316:
                raise ValueError(f"{key!r} is not a label key")
        return value


class HomePages(ApiModel):
    """The home pages a class's templates come in (a wrapper chart's branch of its home page repository, say)."""

    values_path: str = Field(pattern=VALUES_PATH, max_length=300,
                             description="The chart-values path that names the page (custom.homepage.gitRepoBranch).")
    offered: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", max_length=100)]] = Field(
        min_length=1, max_length=50, description="The pages a hub may pick.",
        json_schema_extra={"x-kubernetes-list-type": "set"})


class CILogonClients(ApiModel):
    """The provider's CILogon administrative client (CILogon's dynamic client registration, RFC 7591/7592): the
    operator registers each CILogon hub's OAuth client that names no clientSecretRef, and deletes it with the hub."""

    admin_secret: str = Field(
        pattern=DNS_NAME, max_length=253,
        description="A Secret in the operator's namespace with the administrative client's client_id and "
                    "client_secret (CILogon issues it to the provider). The operator reads it; no hub sees it.")
    registration_url: str = Field(default="https://cilogon.org/oauth2/oidc-cm", pattern=HTTPS_URL, max_length=500,
                                  description="CILogon's client management endpoint.")


class GatewayRoute(ApiModel):
    """The Gateway (Gateway API) the class's hubs are reached through, instead of an Ingress: each hub gets an
    HTTPRoute for its domain to its proxy (the chart's httpRoute). TLS is the Gateway's listener's."""

    name: str = Field(pattern=DNS_NAME, max_length=253, description="The Gateway's name.")
    namespace: str | None = Field(default=None, pattern=DNS_LABEL, max_length=63,
                                  description="Its namespace, where it is not the hub's (it must allow routes from "
                                              "the hubs' namespaces).")
    section_name: str | None = Field(default=None, pattern=DNS_LABEL, max_length=63,
                                     description="The listener of the Gateway (https, say); any when omitted.")


class OptionalValues(ApiModel):
    """A part of a class's values that a hub may go without."""

    description: str = Field(min_length=1, max_length=300, pattern=PLAIN_TEXT,
                             description="What a hub goes without, in words.")
    paths: list[Annotated[str, Field(pattern=VALUES_PATH, max_length=300)]] = Field(
        min_length=1, max_length=20, description="The chart-values paths the hub's values then lack (dotted).")


class PublicHubs(ApiModel):
    """Its hubs may have no login (auth.provider none: public Binder hubs, open to anyone), within these bounds on
    each such hub's auth.public."""

    max_concurrent_users: int = Field(default=100, ge=1, le=5000,
                                      description="The most servers one such hub may run at once.")
    max_idle_minutes: int = Field(default=30, ge=1, le=1440,
                                  description="The longest idle time before a server is stopped.")
    max_age_minutes: int = Field(default=720, ge=10, le=10080,
                                 description="The longest a server may run, idle or not.")


class BinderClass(ApiModel):
    """Image building for the class's hubs (spec.binder): binderhub-service, one release per hub namespace."""

    chart: ClassChart = Field(default_factory=ClassChart,
                              description="The binderhub-service chart; the operator's setting when omitted.")
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Base values of that chart (the provider's: the repo2docker image "
                    "config.KubernetesBuildExecutor.build_image, resources, dockerApi.initContainers); the "
                    "operator's wiring (names, registry, pool, the hub's service) goes over them.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    registry: BinderRegistry = Field(description="Where built images go.")
    build_pool: BuildPool = Field(description="Where builds run.")


class ServingCheck(ApiModel):
    """The serving check of the class's hubs (delivery/serving.py): after each new release, and then every
    intervalSeconds, the operator logs a check user in as the hub's service, starts its server, runs one statement
    in a kernel, and removes it; ServingUsers says how it went, and Ready includes it once checked."""

    enabled: bool = Field(default=True, description="Whether the class's hubs are checked (the operator's "
                                                    "CHUB_SERVING_CHECK turns every check off). Off for hubs whose "
                                                    "pods do not run (fake nodes).")
    interval_seconds: int = Field(default=3600, ge=300, le=604800,
                                  description="How long after a passed check the next one runs.")
    profiles: Literal["default", "all"] = Field(
        default="default", description="`default`: the server a user gets without choosing; `all`: each profile's, "
                                       "one after the other (a slow or costly check on a hub with GPU profiles).")
    timeout_seconds: int = Field(default=300, ge=30, le=1800,
                                 description="How long a server may take to start before the check fails.")


class HubClassSpec(ApiModel):
    """The provider's platform layer, shared by the hubs that name the class: chart, base values (any shape,
    trusted), the catalogs tenants choose from, and what tenants may set."""

    description: str | None = Field(default=None, max_length=500, description="What the class is for.")
    chart: ClassChart = Field(default_factory=ClassChart, description="The chart its hubs run.")
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Base chart values of any shape (the provider's own, not bounded by the tenant values policy; "
                    "the chart's schema still applies). Layering: chart defaults < the operator's defaults < these "
                    "< the values the operator renders from each CommunityHub < a FleetRollout's < the hub's own "
                    "spec.hub.values.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    per_hub_values: dict[str, Any] = Field(
        default_factory=dict,
        description="Base values its hubs get each with their own names filled in, as a deployer derives them: "
                    "in any string, {hub.name} and {hub.namespace} become the CommunityHub's metadata.name and "
                    "metadata.namespace (the provider chooses both; a tenant cannot rename its hub), {hub.domain} "
                    "its spec.hub.domain, and {hub.clusterNamespace} its namespace on its cluster (where its pods "
                    "run: status.names.namespace). For what is each hub's by convention, such as the label of its "
                    "own nodes (singleuser.nodeSelector: {2i2c/hub-name: '{hub.namespace}'}) or a service's public "
                    "URL (https://{hub.domain}/). Layered with values, under what the operator renders.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    user_service_account_annotations: dict[str, Annotated[str, Field(max_length=1000)]] = Field(
        default_factory=dict, max_length=20,
        description="Annotations of the users' ServiceAccount the operator makes in each hub's namespace, which "
                    "its servers run as: a cloud identity the provider made per hub (eks.amazonaws.com/role-arn, "
                    "iam.gke.io/gcp-service-account), {hub.name} and {hub.namespace} filled in as in perHubValues. "
                    "The cloud role must trust that ServiceAccount in the hub's namespace on its cluster "
                    "(status.names.namespace). A hub with spec.storage.buckets gets its buckets' identity instead.")
    open_value_paths: list[Annotated[str, Field(pattern=r"^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)$",
                                                max_length=300)]] = Field(
        default_factory=list, max_length=100,
        description="Dotted chart-values paths its hubs' spec.hub.values may set, besides the operator's open "
                    "paths (e.g. singleuser.extraFiles, singleuser.networkPolicy.egress); `*` opens every path.")
    shared_storage: SharedStorage | None = Field(default=None, description="What sharedNFS hubs get; without it "
                                                                             "they are refused.")
    binder: BinderClass | None = Field(default=None, description="Image building (spec.binder); without it, "
                                                                 "hubs asking for it are refused.")
    public_hubs: PublicHubs | None = Field(
        default=None, description="Hubs with no login (auth.provider none, Binder hubs open to anyone) and their "
                                  "bounds; without it, such hubs are refused.")
    content_puller: str | None = Field(
        default=None, pattern=IMAGE_REFERENCE, max_length=500,
        description="An image with nbgitpuller's gitpuller command: the init container that pulls a profile's "
                    "content; profiles with content are refused without it.")
    hub_domains: list[Annotated[str, Field(pattern=DNS_NAME, max_length=253)]] = Field(
        default_factory=list, max_length=50,
        description="DNS suffixes its hubs' spec.hub.domain must sit under (a hub is refused a domain outside them); "
                    "any domain when empty. Either way no two hubs of the fleet share a domain.")
    ingress_annotations: list[Annotated[str, Field(min_length=1, max_length=316)]] = Field(
        default_factory=list, max_length=50,
        description="Ingress annotation keys its hubs may set in spec.hub.values.ingress.annotations (none when "
                    "empty): annotations pick certificate issuers, DNS names and controller snippets.")
    home_pages: HomePages | None = Field(
        default=None, description="The home pages its templates come in, which a hub picks (branding.homePage).")
    cilogon_clients: CILogonClients | None = Field(
        default=None, description="Register the OAuth client of each of its CILogon hubs that names no "
                                  "auth.clientSecretRef (and delete it with the hub); without it, such a hub is "
                                  "refused (SSOReady False ClientSecretNotFound).")
    gateway_route: GatewayRoute | None = Field(
        default=None, description="Reach its hubs through this Gateway (an HTTPRoute per hub, for its domain) "
                                  "instead of an Ingress; an Ingress when omitted.")
    optional_values: dict[str, OptionalValues] = Field(
        default_factory=dict, max_length=20,
        description="Parts of its values a hub may go without (hub.declinedValues), by name: the provider says "
                    "which, a hub only declines them.",
        json_schema_extra={"x-kubernetes-validations": [
            _cel(f"self.all(k, k.matches('{OFFER_NAME}'))",
                 "optionalValues' names are lowercase letters, digits and dashes", reason="FieldValueInvalid"),
        ]})

    @field_validator("optional_values")
    @classmethod
    def _optional_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.fullmatch(OFFER_NAME, name):
                raise ValueError(f"optionalValues' names are lowercase letters, digits and dashes: {name!r}")
        return value
    branding_values_path: str = Field(
        default="hub.config.JupyterHub.template_vars", pattern=VALUES_PATH,
        max_length=300,
        description="The chart-values path its templates read a hub's branding from (org, funded_by): "
                    "JupyterHub's template_vars, or where the class's own extraConfig takes them from (a wrapper "
                    "chart's custom.homepage.templateVars, say). The announcement stays JupyterHub's.")
    serving_check: ServingCheck = Field(default_factory=ServingCheck,
                                        description="The serving check of its hubs: on, off, how often, which "
                                                    "servers.")
    hubs_may_pre_pull: bool = Field(
        default=False, description="Its hubs on a shared cluster may turn on the continuous pre-puller "
                                   "(environment.prePull): a pod of each hub on every user node its servers may use, "
                                   "so only where the class puts each hub's servers on nodes of its own. Dedicated "
                                   "hubs may always.")
    # Keys checked by CEL, not a key pattern: the API server refuses patternProperties in a CRD's schema.
    staff_users: dict[str, Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]],
                                     Field(max_length=100)]] = Field(
        default_factory=dict, max_length=10,
        description="The provider's staff by the kind of account they log in with (github, google, cilogon, say): "
                    "the users a hub's hub.staffAdmins makes its admins.",
        json_schema_extra={"x-kubernetes-validations": [
            _cel(f"self.all(k, k.matches('{STAFF_KIND}'))",
                 "staffUsers' keys are kinds of account: lowercase letters, digits and dashes",
                 reason="FieldValueInvalid"),
        ]})

    @field_validator("staff_users")
    @classmethod
    def _staff_kinds(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for kind in value:
            if not re.fullmatch(STAFF_KIND, kind):
                raise ValueError(f"staffUsers' keys are kinds of account (lowercase letters, digits, dashes): {kind!r}")
        return value
    github_staff_teams: list[Annotated[str, Field(pattern=GITHUB_TEAM, max_length=140)]] = Field(
        default_factory=list, max_length=10,
        description="The provider's staff team(s) (<organization>:<team>), let into every GitHub hub of the class as "
                    "admins, so its engineers can help; added by the class, not by each tenant.")
    node_pools: list[CatalogNodePool] = Field(default_factory=list, max_length=50,
                                              description="Node pools profiles may place servers on.")
    images: list[CatalogImage] = Field(default_factory=list, max_length=100, description="Images hubs may offer.")
    tiers: Tiers = Field(default_factory=Tiers, description="What each membership tier may use; the operator's "
                                                            "defaults for a tier left out.")
    archetypes: Archetypes = Field(default_factory=Archetypes,
                                   description="Per-server limits by archetype; the operator's defaults "
                                               "(education 4 CPU/16Gi, research 32/256Gi, partnership 64/512Gi) "
                                               "for one left out.")

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            _unique("nodePools", "name", "node pool names must be unique"),
            _unique("images", "name", "image names must be unique"),
        ]},
    )


class HubClass(ApiModel):
    """A provider's platform layer for hubs (cluster-scoped, like StorageClass): its chart, base values,
    catalogs of node pools and images, and what its tenants may set."""

    api_version: Literal["hubs.2i2c.org/v1alpha1"] = Field(default=API_VERSION)
    kind: Literal["HubClass"] = Field(default=HUB_CLASS_KIND)
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: HubClassSpec = Field(default_factory=HubClassSpec)

    model_config = ConfigDict(extra="ignore")
