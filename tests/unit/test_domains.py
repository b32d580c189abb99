"""Who may answer to a domain (issue 29, finding 5), decided on plain data: the class's suffixes, and whose a
claim is."""

from __future__ import annotations

from communityhub.delivery import domains, names


def test_a_domain_must_sit_under_one_of_the_classes_suffixes() -> None:
    suffixes = ["hubs.example.org", "2i2c.cloud"]
    assert domains.suffix_refusal("lab.hubs.example.org", suffixes, "basehub") is None
    assert domains.suffix_refusal("Lab.2I2C.cloud", suffixes, "basehub") is None
    for squatted in ("hubs.example.org", "evilhubs.example.org", "lab.hubs.example.org.attacker.net", "other.org"):
        refused = domains.suffix_refusal(squatted, suffixes, "basehub")
        assert refused is not None and refused.reason == "DomainNotAllowed" and "basehub" in refused.message
    assert domains.suffix_refusal("anything.org", [], "open") is None  # a class that names none


def test_a_claim_is_named_by_its_domain_alone_and_says_whose_it_is() -> None:
    claim = domains.claim_manifest("Lab.Hubs.Example.org", "team-a", "lab", "uid-1", "communityhub-system")
    assert claim["metadata"]["name"] == names.domain_claim("lab.hubs.example.org")  # one name per domain: the lock
    assert claim["metadata"]["namespace"] == "communityhub-system"
    assert claim["metadata"]["labels"][names.DOMAIN_CLAIM_LABEL] == "uid-1"
    assert claim["data"] == {"domain": "lab.hubs.example.org", "namespace": "team-a", "name": "lab", "uid": "uid-1"}
    assert names.domain_claim("a.example.org") != names.domain_claim("b.example.org")


def test_a_live_hubs_claim_is_taken_and_a_stale_one_is_not() -> None:
    held = {"domain": "lab.example.org", "namespace": "team-a", "name": "lab", "uid": "uid-1"}
    assert domains.holder(held, "team-a", "lab", "uid-1", "uid-1") == "ours"
    assert domains.holder(held, "team-b", "lab", "uid-2", "uid-1") == "taken"
    assert domains.holder(held, "team-b", "lab", "uid-2", None) == "stale"  # its hub is gone
    assert domains.holder(held, "team-b", "lab", "uid-2", "uid-9") == "stale"  # a new hub of that name since
    assert domains.holder(held, "team-a", "lab", "uid-3", "uid-3") == "stale"  # this hub, made again
    refused = domains.taken("lab.example.org", held)
    assert refused.reason == "DomainTaken" and "namespace team-a" in refused.message
    assert "uid-1" not in refused.message
