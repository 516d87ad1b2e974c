"""The access policy's member forms."""

from __future__ import annotations

from aerovane.proxy.policy import AccessPolicy


def test_member_forms() -> None:
    policy = AccessPolicy.parse(
        [
            "user:Alice@Example.com",
            " serviceAccount:robot@p.iam.gserviceaccount.com ",
            "domain:example.org",
            "",
        ]
    )
    assert policy.admits("user", "alice@example.com")
    assert policy.admits("user", "ALICE@EXAMPLE.COM")
    assert not policy.admits("serviceAccount", "alice@example.com")
    assert policy.admits("serviceAccount", "robot@p.iam.gserviceaccount.com")
    assert not policy.admits("user", "robot@p.iam.gserviceaccount.com")
    assert policy.admits("user", "bob@example.org")
    assert not policy.admits("user", "bob@sub.example.org")
    assert not policy.admits("user", "bob@example.org.evil.test")


def test_everyone_and_no_one() -> None:
    assert AccessPolicy.parse(["allAuthenticatedUsers"]).admits("serviceAccount", "x@y.z")
    assert not AccessPolicy.parse([]).admits("user", "x@y.z")


def test_unknown_members_never_widen_access() -> None:
    policy = AccessPolicy.parse(["allUsers", "group:staff@example.com", "user:", "domain"])
    assert not policy.all_authenticated
    assert not policy.admits("user", "staff@example.com")
