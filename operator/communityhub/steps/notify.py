"""The guards' emails, each sent exactly once per occurrence (see :mod:`communityhub.fleet.notices`).

A notice already recorded as sent in the annotations Kopf handed over costs nothing; one that looks
due is decided again on the hub read fresh, its intent written on that version (a concurrent write
makes it fail with 409: nothing is sent, the next pass tries again), then sent, then recorded. A send
that fails cleanly removes its intent and is tried again on a later pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from lightkube import ApiError

from communityhub.adapters import kube, smtp
from communityhub.api import conditions
from communityhub.api.annotations import NOTICES
from communityhub.fleet import notices as record
from communityhub.fleet.lifecycle import Notice
from communityhub.steps.context import HubContext
from communityhub.steps.delivered import smtp_server


async def send(ctx: HubContext, due: Sequence[Notice], month: str) -> list[str]:
    """Send what is due; the keys of the notices that could not be sent (tried again on a later pass)."""
    settings = ctx.settings
    if not due or not settings.smtp_host:
        return []
    try:
        seen = record.read(ctx.annotations)
    except record.LedgerError as err:
        ctx.log.warning("guard notices not sent", reason=str(err))
        return [n.key for n in due]
    due = [n for n in due if record.decide(seen, n.key) == "send"]
    failed: list[str] = []
    if not due:
        return failed
    client = ctx.clusters.get(None)
    contact = ctx.spec.community.contact_email
    for notice in due:
        try:
            annotations, version = await kube.hub_annotations(client, ctx.namespace, ctx.name)
            ledger = record.read(annotations)
            if record.decide(ledger, notice.key) != "send":
                continue
            server = await smtp_server(ctx, settings)
            message = record.message(ctx.spec, ctx.namespace, ctx.name, notice, sender=settings.smtp_from,
                                     support_url=settings.support_url, support_email=settings.support_email)
            ledger[notice.key] = {"id": str(message["Message-ID"])}
            await kube.patch_hub_annotations(client, ctx.namespace, ctx.name, {NOTICES: record.dump(ledger, month)},
                                             resource_version=version)
        except ApiError as err:
            failed.append(notice.key)
            if err.status.code != 409:
                ctx.events.append(("Warning", "NoticeFailed", f"notice {notice.key} not sent: recording it failed: "
                                                              f"{err.status.code} {err.status.message}"))
            continue
        except (record.LedgerError, smtp.SmtpError) as err:
            failed.append(notice.key)
            ctx.events.append(("Warning", "NoticeFailed", f"notice {notice.key} not sent: {err}"))
            continue
        try:
            await smtp.send(server, message)
        except smtp.SmtpError as err:
            del ledger[notice.key]  # nothing went out: a later pass may send it
            await kube.patch_hub_annotations(client, ctx.namespace, ctx.name, {NOTICES: record.dump(ledger, month)})
            ctx.log.warning("guard notice failed", notice=notice.key, error=str(err))
            ctx.events.append(("Warning", "NoticeFailed", f"notice {notice.key} to {contact} failed: {err}"))
            failed.append(notice.key)
            continue
        ledger[notice.key]["sentAt"] = conditions.now_rfc3339()
        await kube.patch_hub_annotations(client, ctx.namespace, ctx.name, {NOTICES: record.dump(ledger, month)})
        ctx.log.info("guard notice sent", notice=notice.key, message_id=ledger[notice.key]["id"], to=contact)
        ctx.events.append(("Normal", "NoticeSent", f"{notice.subject}: email {ledger[notice.key]['id']} sent to "
                                                   f"{contact} (notice {notice.key})"))
    return failed
