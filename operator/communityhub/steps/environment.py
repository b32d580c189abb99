"""Step 4, EnvironmentReady: the software environment (image, profiles, storage) rolled out."""

from __future__ import annotations

from communityhub.api.conditions import Verdict
from communityhub.delivery import policy
from communityhub.steps.context import HubContext


def prepare(ctx: HubContext) -> Verdict:
    """The tier and archetype policy; False (the hub step waits) when the spec breaks it."""
    return policy.environment(ctx.spec)


def verdict(ctx: HubContext, prepared: Verdict, hub: Verdict) -> Verdict:
    if prepared.status == "False":
        return prepared
    if not hub.ok:
        return Verdict.unknown("WaitingForHub", "the environment is rolled out with the hub's release")
    return Verdict.true("EnvironmentRolledOut", policy.describe_environment(ctx.spec))
