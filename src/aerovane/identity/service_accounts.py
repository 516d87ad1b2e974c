"""Service accounts, their user-managed keys, and IAM bindings on them (`gcloud iam
service-accounts ...` semantics).

An account's email is `NAME@PROJECT.iam.<domain>`; its id is a stable random 21-digit number
(Google's `oauth2ClientId`). A key is an RSA-2048 pair: the private half goes into the returned
key file and is never stored; only the public half is. Deleting or disabling an account or a key
takes effect at the next token request or check. Functions take `session` keyword-only and never
commit; errors are the service errors of `aerovane.services.errors`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.identity import keys, project
from aerovane.identity.principals import USER_ID_LIMIT
from aerovane.services.errors import AlreadyExists, BadRequest, NotFound

#: Google's rule for the NAME part: 6-30 characters, lower-case letters, digits and dashes.
ACCOUNT_ID_RE = re.compile(r"^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$")
#: Project ids: Google's shape, but up to 63 characters.
PROJECT_ID_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
DISPLAY_NAME_MAX = 100
DESCRIPTION_MAX = 256

TOKEN_CREATOR_ROLE = "roles/iam.serviceAccountTokenCreator"
ROLES = frozenset({TOKEN_CREATOR_ROLE, "roles/iam.serviceAccountUser"})
_MEMBER_RE = re.compile(r"^(user|serviceAccount|group|domain):[^\s:]{1,254}$")

DEFAULT_ACCOUNT_ID = "aerovane-default"


def service_account_email(account_id: str, project_id: str | None = None) -> str:
    return (
        f"{account_id}@{project_id or project.project_id()}.iam.{project.service_account_domain()}"
    )


def resource_name(email: str) -> str:
    """The IamBinding `resource` of a service account."""
    return f"serviceAccounts/{email}"


def _new_unique_id(session: Session) -> str:
    """A random 21-digit id, first digit 1, above the range of local users' ids."""
    while True:
        candidate = str(USER_ID_LIMIT + secrets.randbelow(2 * 10**20 - USER_ID_LIMIT))
        taken = session.scalar(
            select(models.ServiceAccount.id).where(models.ServiceAccount.unique_id == candidate)
        )
        if taken is None:
            return candidate


# -- accounts -----------------------------------------------------------------------------------


def create_service_account(
    account_id: str,
    *,
    display_name: str | None = None,
    description: str | None = None,
    session: Session,
) -> models.ServiceAccount:
    if not isinstance(account_id, str) or not ACCOUNT_ID_RE.match(account_id):
        raise BadRequest(
            f"Invalid service account name {account_id!r}: 6-30 characters, lower-case letters, "
            "digits and dashes, starting with a letter and not ending with a dash"
        )
    project_id = project.project_id()
    if not PROJECT_ID_RE.match(project_id):
        raise BadRequest(f"[identity] project_id {project_id!r} is not a valid project id")
    if display_name is not None and len(display_name) > DISPLAY_NAME_MAX:
        raise BadRequest(f"display name must be at most {DISPLAY_NAME_MAX} characters")
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise BadRequest(f"description must be at most {DESCRIPTION_MAX} characters")
    email = service_account_email(account_id, project_id)
    if find_service_account(email, session=session) is not None:
        raise AlreadyExists(f"Service account {email} already exists")
    account = models.ServiceAccount(
        unique_id=_new_unique_id(session),
        project=project_id,
        account_id=account_id,
        email=email,
        display_name=display_name,
        description=description,
        disabled=False,
    )
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
    except IntegrityError:
        raise AlreadyExists(f"Service account {email} already exists") from None
    return account


def find_service_account(email: str, *, session: Session) -> models.ServiceAccount | None:
    return session.scalar(
        select(models.ServiceAccount).where(models.ServiceAccount.email == email.lower())
    )


def get_service_account(email: str, *, session: Session) -> models.ServiceAccount:
    """By email or by numeric id (gcloud accepts either)."""
    if email.isdigit():
        account = session.scalar(
            select(models.ServiceAccount).where(models.ServiceAccount.unique_id == email)
        )
    else:
        account = find_service_account(email, session=session)
    if account is None:
        raise NotFound(f"Service account {email} does not exist")
    return account


def list_service_accounts(*, session: Session, limit: int = 1000) -> list[models.ServiceAccount]:
    return list(
        session.scalars(
            select(models.ServiceAccount).order_by(models.ServiceAccount.email).limit(limit)
        )
    )


def delete_service_account(email: str, *, session: Session) -> None:
    """Delete the account, its keys and every binding on or of it."""
    account = get_service_account(email, session=session)
    session.execute(
        delete(models.IamBinding).where(
            (models.IamBinding.resource == resource_name(account.email))
            | (models.IamBinding.member == f"serviceAccount:{account.email}")
        )
    )
    session.delete(account)
    session.flush()


def set_disabled(email: str, disabled: bool, *, session: Session) -> models.ServiceAccount:
    account = get_service_account(email, session=session)
    account.disabled = disabled
    session.flush()
    return account


def describe(account: models.ServiceAccount) -> dict[str, Any]:
    """The resource as `gcloud iam service-accounts describe` prints it."""
    out: dict[str, Any] = {
        "email": account.email,
        "etag": "MDEwMjE5MjA=",
        "name": f"projects/{account.project}/serviceAccounts/{account.email}",
        "oauth2ClientId": account.unique_id,
        "projectId": account.project,
        "uniqueId": account.unique_id,
    }
    if account.display_name:
        out["displayName"] = account.display_name
    if account.description:
        out["description"] = account.description
    if account.disabled:
        out["disabled"] = True
    return out


def ensure_default_service_account(*, session: Session) -> models.ServiceAccount:
    """The environment's default account (what the metadata server speaks for)."""
    email = service_account_email(DEFAULT_ACCOUNT_ID)
    account = find_service_account(email, session=session)
    if account is not None:
        return account
    try:
        return create_service_account(
            DEFAULT_ACCOUNT_ID,
            display_name="Aerovane default service account",
            session=session,
        )
    except AlreadyExists:
        # A concurrent request created it first.
        account = find_service_account(email, session=session)
        assert account is not None
        return account


# -- keys ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedKey:
    """A new key: the row and the key file (holding the private key; shown once)."""

    key: models.ServiceAccountKey
    key_file: dict[str, str]

    def __repr__(self) -> str:
        return f"CreatedKey(key_id={self.key.key_id!r})"


def key_file(account: models.ServiceAccount, key_id: str, private_pem: str) -> dict[str, str]:
    """Google's service-account key file format, pointed at Aerovane's token endpoint.

    No `universe_domain`: any value but googleapis.com makes google-auth bypass `token_uri`.
    """
    base = project.public_url()
    return {
        "type": "service_account",
        "project_id": account.project,
        "private_key_id": key_id,
        "private_key": private_pem,
        "client_email": account.email,
        "client_id": account.unique_id,
        "auth_uri": f"{base}/o/oauth2/auth",
        "token_uri": project.token_url(),
        "auth_provider_x509_cert_url": f"{base}/oauth2/v1/certs",
        "client_x509_cert_url": (
            f"{base}/service_accounts/v1/metadata/x509/{quote(account.email, safe='')}"
        ),
    }


def create_key(email: str, *, session: Session) -> CreatedKey:
    account = get_service_account(email, session=session)
    private = keys.generate_private_key("RS256")
    row = models.ServiceAccountKey(
        key_id=secrets.token_hex(20),
        service_account_id=account.id,
        public_key_pem=keys.public_key_pem(private),
        disabled=False,
    )
    session.add(row)
    session.flush()
    return CreatedKey(row, key_file(account, row.key_id, keys.private_key_pem(private)))


def list_keys(email: str, *, session: Session) -> list[models.ServiceAccountKey]:
    account = get_service_account(email, session=session)
    return list(
        session.scalars(
            select(models.ServiceAccountKey)
            .where(models.ServiceAccountKey.service_account_id == account.id)
            .order_by(models.ServiceAccountKey.created_at, models.ServiceAccountKey.id)
        )
    )


def delete_key(key_id: str, email: str, *, session: Session) -> None:
    account = get_service_account(email, session=session)
    row = session.scalar(
        select(models.ServiceAccountKey).where(
            models.ServiceAccountKey.key_id == key_id,
            models.ServiceAccountKey.service_account_id == account.id,
        )
    )
    if row is None:
        raise NotFound(f"Key {key_id} of {account.email} does not exist")
    session.delete(row)
    session.flush()


# -- IAM bindings on accounts -------------------------------------------------------------------


def add_iam_policy_binding(
    email: str, *, member: str, role: str, session: Session
) -> models.IamBinding:
    account = get_service_account(email, session=session)
    if role not in ROLES:
        raise BadRequest(f"Role {role} is not supported; use one of {', '.join(sorted(ROLES))}")
    if not _MEMBER_RE.match(member):
        raise BadRequest(f"Invalid member {member!r}: expected user:EMAIL or serviceAccount:EMAIL")
    member = normalize_member(member)
    resource = resource_name(account.email)
    existing = _binding(resource, role, member, session)
    if existing is not None:
        return existing
    binding = models.IamBinding(resource=resource, role=role, member=member)
    try:
        with session.begin_nested():
            session.add(binding)
            session.flush()
    except IntegrityError:
        found = _binding(resource, role, member, session)
        assert found is not None
        return found
    return binding


def remove_iam_policy_binding(email: str, *, member: str, role: str, session: Session) -> None:
    account = get_service_account(email, session=session)
    binding = _binding(resource_name(account.email), role, normalize_member(member), session)
    if binding is None:
        raise NotFound(f"Policy binding with member {member} and role {role} not found")
    session.delete(binding)
    session.flush()


def get_iam_policy(email: str, *, session: Session) -> dict[str, Any]:
    account = get_service_account(email, session=session)
    rows = session.scalars(
        select(models.IamBinding)
        .where(models.IamBinding.resource == resource_name(account.email))
        .order_by(models.IamBinding.role, models.IamBinding.member)
    )
    by_role: dict[str, list[str]] = {}
    for row in rows:
        by_role.setdefault(row.role, []).append(row.member)
    bindings = [{"members": members, "role": role} for role, members in by_role.items()]
    return (
        {"bindings": bindings, "etag": "BwYAAAAAAAA=", "version": 1}
        if bindings
        else {"etag": "ACAB"}
    )


def normalize_member(member: str) -> str:
    """`kind:email` with the email in lower case (emails compare case-insensitively)."""
    kind, _, name = member.partition(":")
    return f"{kind}:{name.lower()}"


def may_create_tokens(member: str, account: models.ServiceAccount, *, session: Session) -> bool:
    """Whether `member` holds roles/iam.serviceAccountTokenCreator on `account`."""
    resource = resource_name(account.email)
    return _binding(resource, TOKEN_CREATOR_ROLE, normalize_member(member), session) is not None


def _binding(resource: str, role: str, member: str, session: Session) -> models.IamBinding | None:
    return session.scalar(
        select(models.IamBinding).where(
            models.IamBinding.resource == resource,
            models.IamBinding.role == role,
            models.IamBinding.member == member,
        )
    )
