import datetime as dt

from ninja import Field, Router, Schema, Status

from aftercare.core.http import AuthedRequest

from . import policy, services
from .models import Team

router = Router(tags=["accounts"])


class TeamOut(Schema):
    id: int
    name: str
    slug: str
    department: str
    is_active: bool


class MeOut(Schema):
    id: int
    username: str
    display_name: str
    email: str
    role: str
    customer_id: int | None
    team_ids: list[int]
    language: str
    time_zone: str


class TokenIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    expires_at: dt.datetime | None = None


class TokenOut(Schema):
    id: int
    name: str
    key_prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(..., description="Shown once; only its hash is stored.")


@router.get("/users/me", response=MeOut, summary="The signed-in user")
def me(request: AuthedRequest):
    user = request.user
    return {
        "id": user.pk,
        "username": user.username,
        "display_name": str(user),
        "email": user.email,
        "role": user.role,
        "customer_id": user.customer_id,
        "team_ids": list(user.memberships.values_list("team_id", flat=True)),
        "language": user.language,
        "time_zone": user.time_zone,
    }


@router.get("/teams", response=list[TeamOut], summary="Teams")
def list_teams(request: AuthedRequest):
    policy.check_staff(request.user)
    return list(Team.objects.order_by("name"))


@router.get("/tokens", response=list[TokenOut], summary="My API tokens")
def list_tokens(request: AuthedRequest):
    return list(request.user.api_tokens.order_by("-created_at"))


@router.post("/tokens", response={201: TokenCreatedOut}, summary="Create an API token")
def create_token(request: AuthedRequest, payload: TokenIn):
    token, raw = services.create_api_token(
        user=request.user, name=payload.name, expires_at=payload.expires_at
    )
    return Status(201, {**TokenOut.from_orm(token).dict(), "token": raw})


@router.delete("/tokens/{int:token_id}", response={204: None}, summary="Revoke an API token")
def revoke_token(request: AuthedRequest, token_id: int):
    services.revoke_api_token(user=request.user, token_id=token_id)
    return Status(204, None)
