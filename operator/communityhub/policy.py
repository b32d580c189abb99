"""Pure policy decisions on a spec, each returning a Verdict with a reason a human can act on."""

from __future__ import annotations

from communityhub.api.models import ESSENTIAL_MAX_PROFILES, CommunityHubSpec
from communityhub.conditions import Verdict
from communityhub.quantities import parse_memory

#: Largest profile per archetype (CPU cores, memory bytes): the standard platform, not one-offs.
PROFILE_LIMITS = {
    "education": (4.0, parse_memory("16Gi")),
    "research": (32.0, parse_memory("256Gi")),
    "partnership": (64.0, parse_memory("512Gi")),
}


def environment(spec: CommunityHubSpec) -> Verdict:
    """Is this software environment within the membership tier's and archetype's policy?"""
    archetype, tier = spec.community.archetype, spec.community.membership
    max_cpu, max_mem = PROFILE_LIMITS[archetype]
    profiles = spec.environment.profiles
    for p in profiles:
        if p.cpu > max_cpu or parse_memory(p.memory) > max_mem:
            return Verdict.false(
                "ProfileExceedsLimits",
                f"profile {p.name} asks for {p.cpu:g} CPU and {p.memory}; {archetype} hubs allow at most "
                f"{max_cpu:g} CPU and {max_mem // 2**30}Gi per profile")
        if tier == "essential" and p.gpu:
            return Verdict.false("ProfileNotInTier",
                                 f"profile {p.name} asks for GPUs; essential membership has no GPU profiles")
        if tier == "essential" and p.image:
            return Verdict.false("ProfileNotInTier",
                                 f"profile {p.name} sets its own image; essential membership uses the hub's image")
    if tier == "essential" and len(profiles) > ESSENTIAL_MAX_PROFILES:
        return Verdict.false("TooManyProfiles",
                             f"essential membership offers at most {ESSENTIAL_MAX_PROFILES} profiles, "
                             f"{len(profiles)} given")
    return Verdict.unknown("EnvironmentRendered", describe_environment(spec))


def describe_environment(spec: CommunityHubSpec) -> str:
    env = spec.environment
    names = ", ".join(p.name for p in env.profiles) or "one default server"
    return f"image {env.image}, profiles: {names}, home {env.home_storage}, default URL {env.default_url}"
