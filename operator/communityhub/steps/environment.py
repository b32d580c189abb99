"""Step 4, EnvironmentReady: the software environment (image, profiles, storage) rolled out."""

from __future__ import annotations

from communityhub.api.conditions import Verdict
from communityhub.delivery import classes, policy
from communityhub.steps.context import HubContext


def prepare(ctx: HubContext) -> Verdict:
    """The hub's class, and the tier and archetype policy; False (the hub step waits) when the class is
    missing or the spec breaks the policy."""
    if ctx.hub_class.missing:
        return Verdict.false("HubClassNotFound", classes.not_found_message(str(ctx.hub_class.name), ctx.spec))
    return policy.environment(ctx.spec, ctx.hub_class.spec)


def verdict(ctx: HubContext, prepared: Verdict, hub: Verdict) -> Verdict:
    if prepared.status == "False":
        return prepared
    if not hub.ok:
        return Verdict.unknown("WaitingForHub", "the environment is rolled out with the hub's release")
    return Verdict.true("EnvironmentRolledOut", policy.describe_environment(ctx.spec))
