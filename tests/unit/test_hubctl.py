"""hubctl's output, as kubectl users expect it: a table by default, -o json|yaml|csv for machines."""

from __future__ import annotations

import csv
import io
import json

import yaml

from communityhub.api import annotations as ann
from communityhub.cli import hubctl
from communityhub.money import billing
from tests.unit.test_billing import delivered_hub


def result() -> billing.Invoices:
    return billing.invoices([delivered_hub("old", "2026-01-01T00:00:00Z"),
                             delivered_hub("new", "2026-11-20T00:00:00Z", **{ann.COST_MONTH: ""})], "2026-11")


def test_the_table_says_pending_where_an_amount_is_not_known() -> None:
    table = hubctl.render_invoices(result(), "table").splitlines()
    assert table[0].split() == ["HUB", "INVOICE", "ITEM", "USD", "NOTE"]
    pending = [row for row in table if "hubs/new" in row and "cloud-cost" in row]
    assert len(pending) == 1 and " pending " in pending[0] and "cost-cloud-month is missing" in pending[0]
    assert table[-1].endswith("(+ 1 pending)")


def test_machine_formats_carry_the_same_lines() -> None:
    invoices = result()
    as_json = json.loads(hubctl.render_invoices(invoices, "json"))
    assert as_json == yaml.safe_load(hubctl.render_invoices(invoices, "yaml"))
    rows = list(csv.DictReader(io.StringIO(hubctl.render_invoices(invoices, "csv"))))
    assert len(rows) == len(as_json["lines"]) == len(invoices.lines)
    pending = {r["hub"]: r["pending"] for r in rows if r["item"] == "cloud-cost"}
    assert pending == {"hubs/new": "True", "hubs/old": "False"}
    assert as_json["pending"][0]["hub"] == "hubs/new"


def test_kpis_formats() -> None:
    hub = delivered_hub("a", "2026-01-01T00:00:00Z", **{ann.USAGE_WAU: "3", ann.USAGE_MAU: "7",
                                                         ann.USAGE_OBSERVED_AT: "2026-11-20T00:00:00Z"})
    figures = billing.kpis([hub])
    rows = list(csv.DictReader(io.StringIO(hubctl.render_kpis(figures, "csv"))))
    assert rows == [{"hub": "hubs/a", "community": "Community a", "weeklyActiveUsers": "3",
                     "monthlyActiveUsers": "7", "observedAt": "2026-11-20T00:00:00Z"}]
    assert "weekly active users: 3" in hubctl.render_kpis(figures, "table")


def test_namespace_flags_before_or_after_the_command() -> None:
    parse = hubctl.parser().parse_args
    assert parse(["-n", "a", "kpis"]).namespace == "a"
    assert parse(["kpis", "-n", "b"]).namespace == "b"
    args = parse(["billing", "invoices", "--month", "2026-11", "-A", "-o", "yaml"])
    assert args.all_namespaces and args.output == "yaml" and not args.strict and args.out is None
