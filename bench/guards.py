"""Benchmarks of the pure fleet decisions at fleet scale (no cluster needed): the money and lifecycle
guards every pass decides, and a FleetRollout's plan over the whole fleet.

    .venv/bin/python bench/guards.py [--hubs 1000]

Prints one line per figure (best of 5 runs): the guards of one hub with every guard set, for the fleet;
a rollout's plan over the fleet in two waves; and hubctl guards' listing of it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metering import timed

from communityhub.api import annotations as ann
from communityhub.api.models import CommunityHubSpec, FleetRolloutSpec
from communityhub.fleet import lifecycle, report
from communityhub.fleet.rollout_plan import HubView, plan

SPEC = {
    "community": {"displayName": "Bench", "contactEmail": "b@example.org", "archetype": "research"},
    "placement": {"type": "shared", "sharedCluster": "local"},
    "hub": {"domain": "bench.example.org"},
    "auth": {"provider": "github", "github": {"organization": "o"}, "clientSecretRef": {"name": "s"}},
    "environment": {"image": "quay.io/o/i:1"},
    "billing": {"budget": {"monthlyCloudUSD": 500, "enforce": True}},
    "lifecycle": {"contractEnd": "2026-12-10", "inactiveDays": 30},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hubs", type=int, default=1000)
    args = parser.parse_args()
    now = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
    spec = CommunityHubSpec.model_validate(SPEC)
    annotations = {ann.COST_MONTH: "2026-11", ann.COST_MONTH_TO_DATE: "460.00",
                   ann.DELIVERED_AT: "2026-09-01T00:00:00Z", ann.USAGE_OBSERVED_AT: "2026-11-25T11:00:00Z",
                   ann.USAGE_LAST_ACTIVITY: "2026-11-20T00:00:00Z"}
    seconds = timed(lambda: [lifecycle.evaluate(spec, annotations, now) for _ in range(args.hubs)])
    print(f"guards.evaluate: {args.hubs} hubs, every guard set: {seconds * 1000:.1f} ms "
          f"({seconds / args.hubs * 1e6:.1f} us a hub)")

    rollout = FleetRolloutSpec.model_validate({"target": {"chartVersion": "4.5.0"}, "maxPerCluster": 4, "waves": [
        {"name": "staging", "matchLabels": {"channel": "staging"}},
        {"name": "production", "matchLabels": {"channel": "production"}}]})
    hubs = [HubView(f"hubs/h{i}", {"channel": "staging" if i % 10 == 0 else "production"}, f"c{i % 7}", True, False,
                    "HubAvailable", "r1" if i % 10 == 0 else None) for i in range(args.hubs)]
    seconds = timed(lambda: plan("r1", rollout, hubs))
    decided = plan("r1", rollout, hubs)
    print(f"rollout plan: {args.hubs} hubs, 2 waves: {seconds * 1000:.1f} ms (wave {decided.wave}, "
          f"{len(decided.admit)} started)")

    objects = [{"metadata": {"namespace": "hubs", "name": f"h{i}"}, "status": {"conditions": [
        {"type": "WithinBudget", "status": "False", "reason": "BudgetExceeded", "message": "m"},
        {"type": "UsersActive", "status": "True", "reason": "UsersActive", "message": "m"}]}}
        for i in range(args.hubs)]
    seconds = timed(lambda: report.rows(objects))
    print(f"hubctl guards listing: {args.hubs} hubs: {seconds * 1000:.1f} ms")


if __name__ == "__main__":
    main()
