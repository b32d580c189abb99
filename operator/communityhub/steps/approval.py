"""Step 1's cost gate for a dedicated hub: its estimate in the status before Terraform applies anything,
and, with ``placement.dedicated.requireApproval``, a person's approval of that estimate and the plan.

The figures and the approval id are decided by :mod:`communityhub.money.estimate` (pure); this module
records them and holds the apply until the CommunityHub carries the approval annotation.
"""

from __future__ import annotations

import dataclasses

from lightkube import ApiError

from communityhub.adapters import kube
from communityhub.api.conditions import Verdict
from communityhub.money import cost, estimate
from communityhub.steps.context import HubContext


@dataclasses.dataclass(frozen=True)
class Gate:
    """The estimate of this pass's inputs, and the approval the hub carries (if any)."""

    figures: estimate.Estimate
    #: The inputs hash the estimate and any approval are for.
    wanted: str
    approval: str | None
    required: bool

    def approved(self, plan: str) -> bool:
        return self.approval == self.figures.approval_id(self.wanted, plan)


async def open_gate(ctx: HubContext, wanted: str) -> Gate | Verdict:
    """The gate for these inputs, or the Verdict that stops the step: a plan already waiting for a person,
    or an estimate that could not be recorded. Without an approval gate the estimate is written now, not
    with the pass's status after the apply: the figure is there before any money is spent."""
    dedicated = ctx.spec.placement.dedicated
    assert dedicated is not None
    figures = estimate.estimate(ctx.spec, cost.catalog(ctx.settings.price_catalog))
    assert figures is not None
    ctx.estimate = figures.to_status()
    approval = ctx.annotations.get(estimate.APPROVED)
    prior = ctx.status.get("estimate") or {}
    if dedicated.require_approval and prior.get("inputsHash") == wanted and prior.get("approvalId") \
            and prior.get("approvalId") == figures.approval_id(wanted, str(prior.get("plan"))) \
            and approval != prior["approvalId"]:
        ctx.estimate = prior  # planned already: nothing to run until someone approves
        return Verdict.unknown("AwaitingApproval", estimate.awaiting(
            figures, prior["approvalId"], str(prior.get("plan")), ctx.namespace, ctx.name))
    if not dedicated.require_approval and prior != ctx.estimate:
        try:
            await kube.patch_hub_status(ctx.clusters.get(None), ctx.namespace, ctx.name, {"estimate": ctx.estimate})
        except ApiError as err:
            return Verdict.false("KubernetesError", f"recording the cost estimate failed: {err.status.code} "
                                                    f"{err.status.message}")
        ctx.status = {**ctx.status, "estimate": ctx.estimate}
    return Gate(figures, wanted, approval, dedicated.require_approval)


def waiting(ctx: HubContext, gate: Gate, plan: str) -> Verdict:
    """Terraform planned and did not apply: the status names the plan and the id that approves it."""
    approval_id = gate.figures.approval_id(gate.wanted, plan)
    ctx.estimate = gate.figures.to_status(gate.wanted, plan, approval_id)
    ctx.log.info("terraform plan waits for approval", plan=plan, approval_id=approval_id)
    return Verdict.unknown("AwaitingApproval", estimate.awaiting(gate.figures, approval_id, plan, ctx.namespace,
                                                                 ctx.name))


def applied(ctx: HubContext, gate: Gate, plan: str) -> None:
    """After an approved apply, the status keeps what was approved."""
    if gate.required:
        ctx.estimate = gate.figures.to_status(gate.wanted, plan, gate.approval)
