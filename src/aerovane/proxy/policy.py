"""The access policy: which authenticated principals may use the application.

A principal is admitted when a member of `[proxy] allowed_members` or of an IAM binding of
`roles/iap.httpsResourceAccessor` on resource `iap` matches it: `user:EMAIL` (a person),
`serviceAccount:EMAIL` (a service account), `domain:DOMAIN` (any person whose email is in that
domain) or `allAuthenticatedUsers`. Emails compare case-insensitively. The configured members
are checked first, so the default policy (`allAuthenticatedUsers`) costs no query. Unknown
member forms are ignored (logged once): a typo never widens access.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from aerovane.db import models

log = logging.getLogger(__name__)

IAP_RESOURCE = "iap"
IAP_ACCESSOR_ROLE = "roles/iap.httpsResourceAccessor"
ALL_AUTHENTICATED = "allAuthenticatedUsers"
_KINDS = ("user", "serviceAccount", "domain")


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    all_authenticated: bool
    users: frozenset[str]
    service_accounts: frozenset[str]
    domains: frozenset[str]

    @classmethod
    def parse(cls, members: Iterable[str]) -> AccessPolicy:
        everyone = False
        found: dict[str, set[str]] = {kind: set() for kind in _KINDS}
        for raw in members:
            member = raw.strip()
            if not member:
                continue
            if member == ALL_AUTHENTICATED:
                everyone = True
                continue
            kind, sep, value = member.partition(":")
            if not sep or kind not in found or not value.strip():
                _warn_unknown(member)
                continue
            found[kind].add(value.strip().lower())
        return cls(
            everyone,
            frozenset(found["user"]),
            frozenset(found["serviceAccount"]),
            frozenset(found["domain"]),
        )

    def admits(self, kind: str, email: str) -> bool:
        if self.all_authenticated:
            return True
        email = email.lower()
        if kind == "serviceAccount":
            return email in self.service_accounts
        if email in self.users:
            return True
        return email.rpartition("@")[2] in self.domains


@functools.lru_cache(maxsize=8)
def configured_policy(allowed_members: str) -> AccessPolicy:
    """`[proxy] allowed_members` parsed (memoised on the text, so live changes apply)."""
    return AccessPolicy.parse(allowed_members.split(","))


def binding_policy(*, session: Session | Connection) -> AccessPolicy:
    """The members bound to `roles/iap.httpsResourceAccessor` on `iap` (one query)."""
    members = session.scalars(
        select(models.IamBinding.member).where(
            models.IamBinding.resource == IAP_RESOURCE,
            models.IamBinding.role == IAP_ACCESSOR_ROLE,
        )
    )
    return AccessPolicy.parse(members)


@functools.lru_cache(maxsize=64)
def _warn_unknown(member: str) -> None:
    log.warning(
        "access policy: ignoring member %r (expected user:EMAIL, serviceAccount:EMAIL, "
        "domain:DOMAIN or allAuthenticatedUsers)",
        member,
    )
