"""``hubctl``: the billing reader. It lists the CommunityHubs of the current kubeconfig and turns the
operator's annotations into invoices and network KPIs (the logic is :mod:`communityhub.billing`).

    hubctl billing invoices --month 2026-11 [--out DIR]   # invoices-2026-11.csv and .json
    hubctl kpis [--json]

Exit status: 0, or 1 when some hubs could not be billed (they are listed; the rest are billed), 2 on
bad arguments or when the cluster cannot be read.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightkube import Client

from communityhub import billing
from communityhub.adapters.kube import HUB


def list_hubs(namespace: str | None) -> list[dict[str, Any]]:
    client = Client(field_manager="hubctl")
    return [hub.to_dict() for hub in client.list(HUB, namespace=namespace or "*")]


def write_invoices(result: billing.Invoices, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out / f"invoices-{result.month}.json", out / f"invoices-{result.month}.csv"
    json_path.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    fields = [f.name for f in dataclasses.fields(billing.Line)]
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["month", *fields])
        writer.writeheader()
        for line in result.lines:
            writer.writerow({"month": result.month, **dataclasses.asdict(line)})
    return json_path, csv_path


def _table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def cmd_invoices(args: argparse.Namespace) -> int:
    result = billing.invoices(list_hubs(args.namespace), args.month)
    json_path, csv_path = write_invoices(result, Path(args.out))
    print(_table([(line.hub, line.invoice, line.item, f"{line.amount_usd:.2f}", line.note) for line in result.lines],
                 ["HUB", "INVOICE", "ITEM", "USD", "NOTE"]))
    print(f"\nsetup total {result.total('setup'):.2f} USD, monthly total {result.total('monthly'):.2f} USD")
    print(f"wrote {csv_path} and {json_path}")
    for entry in result.not_billed:
        print(f"not billed: {entry['hub']}: {entry['reason']}")
    for entry in result.errors:
        print(f"error: {entry['hub']}: {entry['error']}", file=sys.stderr)
    return 1 if result.errors else 0


def cmd_kpis(args: argparse.Namespace) -> int:
    figures = billing.kpis(list_hubs(args.namespace))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(_table([(r["hub"], r["community"], r["weeklyActiveUsers"], r["monthlyActiveUsers"], r["observedAt"])
                      for r in figures["hubs"]], ["HUB", "COMMUNITY", "WAU", "MAU", "OBSERVED AT"]))
        print(f"\ncommunities: {figures['communities']} "
              f"(historically marginalized: {figures['historicallyMarginalizedCommunities']})")
        print(f"weekly active users: {figures['weeklyActiveUsers']}, "
              f"monthly active users: {figures['monthlyActiveUsers']} (summed over hubs)")
    for entry in figures["errors"]:
        print(f"error: {entry['hub']}: {entry['error']}", file=sys.stderr)
    return 1 if figures["errors"] else 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="hubctl", description="Billing and KPIs from CommunityHub annotations.")
    top.add_argument("-n", "--namespace", help="only this namespace (default: all)")
    commands = top.add_subparsers(dest="command", required=True)
    billing_cmd = commands.add_parser("billing", help="invoices").add_subparsers(dest="billing", required=True)
    invoices = billing_cmd.add_parser("invoices", help="setup and monthly invoices of a month, as CSV and JSON")
    invoices.add_argument("--month", required=True, type=_month, help="YYYY-MM")
    invoices.add_argument("--out", default=".", help="directory for invoices-<month>.csv/.json (default: .)")
    invoices.set_defaults(func=cmd_invoices)
    kpis = commands.add_parser("kpis", help="network KPIs: communities and active users")
    kpis.add_argument("--json", action="store_true", help="JSON instead of a table")
    kpis.set_defaults(func=cmd_kpis)
    return top


def _month(text: str) -> str:
    try:
        billing.month_bounds(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Exception as err:  # the cluster cannot be read: say so in one line, not a traceback
        if type(err).__module__.startswith(("lightkube", "httpx", "ssl")) or isinstance(err, OSError):
            print(f"hubctl: cannot list CommunityHubs: {err}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
