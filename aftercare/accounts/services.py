import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from aftercare.core.errors import NotFound, ValidationFailed

from .models import ApiToken, User, hash_token

# Writing last_used_at on every request would make every API call a write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)


@transaction.atomic
def create_api_token(
    *, user: User, name: str, expires_at: dt.datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token and return it with its raw value, which is never stored."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("令牌名称不能为空"), code="token_name_required")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed(_("过期时间必须晚于现在"), code="token_expiry_in_past")
    raw = ApiToken.generate_raw()
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        key_prefix=raw[:12],
        key_hash=hash_token(raw),
        expires_at=expires_at,
    )
    return token, raw


@transaction.atomic
def revoke_api_token(*, user: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound(_("令牌不存在"), code="token_not_found")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def authenticate_token(raw: str) -> User | None:
    if not raw.startswith(ApiToken.PREFIX) or len(raw) > 100:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(raw)).first()
    now = timezone.now()
    if token is None or not token.is_usable(now) or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def customer_user_for(contact) -> User:
    """The sign-in that speaks for a CRM contact on a channel (e.g. the sender of an email).

    Created on first use without a usable password; the person can claim it later through a
    password reset to the same email address or mobile number.
    """
    from django.contrib.auth.hashers import make_password
    from django.db.models import Q

    from aftercare.accounts.choices import Role

    points = Q(username=f"contact-{contact.pk}")
    if contact.email:
        points |= Q(email__iexact=contact.email)
    if contact.mobile:
        points |= Q(mobile=contact.mobile)
    existing = (
        User.objects.filter(points, role=Role.CUSTOMER, customer_id=contact.customer_id)
        .filter(is_active=True)
        .order_by("pk")
        .first()
    )
    if existing is not None:
        return existing
    user, _created = User.objects.get_or_create(
        username=f"contact-{contact.pk}",
        defaults={
            "role": Role.CUSTOMER,
            "customer_id": contact.customer_id,
            "display_name": contact.name[:100],
            "email": contact.email or "",
            "mobile": contact.mobile or "",
            "password": make_password(None),
        },
    )
    return user
