"""Personal API tokens: random, shown once, stored as sha256, optionally expiring, revocable.

A token acts as its user, with the user's roles. Pages (the user menu's "API tokens"), the
API (``/api/v1/tokens``), ``manage.py create_token`` and the admin (read-only) all use these.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from iacplatform.errors import DomainError, NotFound
from workspaces.audit import audit_record
from workspaces.models import ApiToken

TOKEN_PREFIX = "iac_"
MAX_EXPIRY_DAYS = 3650


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user, name: str, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns (row, raw secret). The secret is never stored."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise DomainError("Give the token a name (at most 100 characters).", errors={"name": ["1–100 characters."]})
    expires_at = None
    if expires_in_days is not None:
        if isinstance(expires_in_days, bool) or not 1 <= int(expires_in_days) <= MAX_EXPIRY_DAYS:
            raise DomainError(f"The expiry must be between 1 and {MAX_EXPIRY_DAYS} days.",
                              errors={"expires_in_days": [f"1–{MAX_EXPIRY_DAYS}"]})
        expires_at = timezone.now() + timedelta(days=int(expires_in_days))
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:12], token_hash=_hash(raw),
                                    expires_at=expires_at)
    audit_record("token.create", user=user, target=f"token {name} ({token.prefix}…)",
                 details={"token_id": token.pk, "owner": user.get_username(), "prefix": token.prefix,
                          "expires_at": expires_at.isoformat() if expires_at else None})
    return token, raw


def api_token_revoke(*, token: ApiToken, user=None) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record("token.revoke", user=user, target=f"token {token.name} ({token.prefix}…)",
                     details={"token_id": token.pk, "owner": token.user.get_username(), "prefix": token.prefix})
    return token


def api_tokens_of(user):
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def api_token_get(*, user, token_id: int) -> ApiToken:
    """One of ``user``'s own tokens (another user's token is as good as missing)."""
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound("No such token.")
    return token


def api_token_authenticate(raw: str):
    """The user a raw token belongs to, or None when unknown, revoked, expired or the user is inactive."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=_hash(raw), revoked_at__isnull=True, user__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
