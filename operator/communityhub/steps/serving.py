"""ServingUsers: the serving check of a hub that is otherwise Ready (decided in delivery/serving.py, done by
adapters/hubapi.py).

Runs after a new release revision is Ready and then on the class's interval; a pass with no check due carries the
last verdict, so it writes nothing. The hub's checker token is in a Secret of the hub's namespace (made with the
release, as the usage service's is). A check holds only its own hub's pass (it awaits network I/O, bounded by the
class's timeout), never the event loop.
"""

from __future__ import annotations

import datetime as dt

from communityhub.adapters import hubapi, kube
from communityhub.api.conditions import SERVING_USERS, Verdict, rfc3339
from communityhub.api.models import ServingCheck
from communityhub.delivery import binder, diagnosis, render, serving
from communityhub.runtime import metrics
from communityhub.steps import hub
from communityhub.steps.context import HubContext, Target


def policy_of(ctx: HubContext) -> ServingCheck | None:
    """The class's check, or None where the hub is not checked: a Binder hub's servers start only from a launch
    (an image BinderHub built), which the check does not make."""
    if binder.landing(ctx.spec):
        return None
    check = ctx.hub_class.spec.serving_check if ctx.hub_class.spec is not None else ServingCheck()
    return check if ctx.settings.serving_check and check.enabled else None


def endpoints(ctx: HubContext, target: Target) -> hubapi.Endpoints:
    """The hub's API as the other readers of it reach it (hub.hub_api_url), and its proxy: in-cluster on the
    operator's own cluster (through the pod network's proxy where the operator is outside it), else the hub's
    public URL."""
    api = hub.hub_api_url(ctx.settings, ctx.spec, target)
    own = target.kubeconfig is None
    if own and not ctx.settings.hub_api_url:
        base = f"http://proxy-public.{target.namespace}.svc"
    else:
        base = api.rstrip("/").removesuffix("/hub/api")
    return hubapi.Endpoints(api_url=api, server_base=base,
                            proxy=(ctx.settings.cluster_http_proxy or None) if own else None,
                            extra_ca_file=ctx.settings.extra_ca_file,
                            allow_private=ctx.settings.http_allow_private or hub.hub_api_is_operators(ctx.settings,
                                                                                                      target))


async def check(ctx: HubContext, ready: bool) -> Verdict | None:
    """ServingUsers for this pass: None where the hub is not checked (the condition leaves the status); the last
    verdict while the hub is not otherwise Ready or no check is due; else a new check's."""
    policy = policy_of(ctx)
    if policy is None or ctx.target is None:
        ctx.serving = {} if ctx.status.get("serving") else None
        return None
    previous = serving.carried(ctx.status.get("conditions") or [], SERVING_USERS)
    if not ready:
        return previous
    revision = str((ctx.release or {}).get("valuesHash", ""))
    now = dt.datetime.now(dt.UTC)
    if previous is not None and not serving.due(ctx.status.get("serving"), revision, now, policy.interval_seconds):
        return previous
    target = ctx.target
    client = ctx.clusters.get(target.kubeconfig)
    token = await hub.service_token(client, target.namespace, hub.SERVING_CHECK_TOKEN)
    if token is None:
        report = serving.Report("token", error=f"Secret {target.namespace}/{serving.TOKEN_SECRET_NAME} with the "
                                               f"checker's token is missing (it is made with the hub's release)")
    else:
        where = endpoints(ctx, target)
        timeouts = hubapi.Timeouts(request=ctx.settings.http_timeout_seconds, spawn=float(policy.timeout_seconds))
        profiles = serving.profiles_to_check(render.profile_list(ctx.spec, ctx.hub_class.spec), policy.profiles,
                                             render.ALLOWED_GROUPS_KEY)

        async def explain() -> str:
            pods = await kube.user_server_pods(client, target.namespace, serving.CHECK_USER)
            cause = next((c for p in pods if (c := diagnosis.pod_cause(p)) is not None), None)
            return cause.message if cause is not None else ""

        for profile in profiles:
            report = await hubapi.check(where, token.decode(), profile, timeouts, explain)
            if report.stage != "done":
                break
    verdict = serving.verdict(report)
    metrics.SERVING_CHECK_SECONDS.labels("passed" if verdict.ok else "failed").observe(report.seconds)
    ctx.log.info("serving check", reason=verdict.reason, seconds=round(report.seconds, 1))
    ctx.serving = {"revision": revision, "checkedAt": rfc3339(now), "ok": verdict.ok}
    if verdict.ok:
        ctx.serving["seconds"] = round(report.seconds, 1)
    return verdict
