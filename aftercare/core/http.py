from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from aftercare.accounts.models import User


class AuthedRequest(HttpRequest):
    """A request that passed authentication: `user` is always a signed-in User."""

    user: "User"  # type: ignore[assignment]
