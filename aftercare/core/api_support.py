"""Plumbing shared by every app's router: authentication, error responses, cursors."""

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja.parser import Parser
from ninja.security import APIKeyCookie, HttpBearer

from .conf import rule
from .errors import ValidationFailed
from .models import IdempotencyRecord


class BearerTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        from aftercare.accounts.services import authenticate_token

        user = authenticate_token(token)
        if user is not None:
            request.user = user
        return user


class SessionAuth(APIKeyCookie):
    """The signed-in browser session; unsafe methods need the CSRF token as usual."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(_("分页游标无效"), code="invalid_cursor") from exc
    if not isinstance(values, list) or len(values) != length:
        raise ValidationFailed(_("分页游标无效"), code="invalid_cursor")
    return values


def request_fingerprint(payload: Any) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False).encode()
    ).hexdigest()


def idempotent_lookup(*, user, scope: str, key: str | None, payload: Any) -> int | None:
    """The id created earlier for this key, or None when the request is new.

    Same key with a different body is refused: the client has a bug, and guessing which of
    the two bodies it meant would lose data.
    """
    if not key:
        return None
    if len(key) > 255:
        raise ValidationFailed(_("Idempotency-Key 过长"), code="idempotency_key_invalid")
    ttl = dt.timedelta(hours=rule("IDEMPOTENCY_TTL_HOURS"))
    record = IdempotencyRecord.objects.filter(
        user=user, scope=scope, key=key, created_at__gte=timezone.now() - ttl
    ).first()
    if record is None:
        return None
    if record.request_hash != request_fingerprint(payload):
        raise ValidationFailed(
            _("同一个 Idempotency-Key 已用于不同的请求内容"), code="idempotency_key_reused"
        )
    return record.object_id


def idempotent_remember(*, user, scope: str, key: str | None, payload: Any, object_id: int) -> bool:
    """Store the outcome in the caller's transaction. False when a concurrent request with the
    same key won the race; the caller must then roll back and return that request's object."""
    if not key:
        return True
    IdempotencyRecord.objects.filter(
        user=user,
        scope=scope,
        key=key,
        created_at__lt=timezone.now() - dt.timedelta(hours=rule("IDEMPOTENCY_TTL_HOURS")),
    ).delete()
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.create(
                user=user,
                scope=scope,
                key=key,
                request_hash=request_fingerprint(payload),
                object_id=object_id,
            )
    except IntegrityError:
        return False
    return True


def create_once(
    *, user, scope: str, key: str | None, payload: Any, create: Callable[[], Any]
) -> tuple[Any | None, int]:
    """Run `create` (in a transaction) at most once per Idempotency-Key.

    Returns (the new object, its id), or (None, the id made earlier for this key) — also when
    a concurrent request with the same key committed first, in which case this one's work is
    rolled back.
    """
    existing = idempotent_lookup(user=user, scope=scope, key=key, payload=payload)
    if existing is not None:
        return None, existing
    with transaction.atomic():
        created = create()
        if idempotent_remember(
            user=user, scope=scope, key=key, payload=payload, object_id=created.pk
        ):
            return created, created.pk
        transaction.set_rollback(True)
    winner = idempotent_lookup(user=user, scope=scope, key=key, payload=payload)
    assert winner is not None
    return None, winner


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


class JsonBodyParser(Parser):
    """JSON bodies as the standard parser reads them, refusing NUL characters in any string:
    PostgreSQL cannot store them, and refusing them here answers the same on both databases."""

    def parse_body(self, request: HttpRequest):
        data = super().parse_body(request)
        if _holds_nul(data):
            raise ValidationFailed(_("文本中不能含有 NUL 字符"), code="text_contains_nul")
        return data
