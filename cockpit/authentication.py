"""How the API knows who calls: tokens that expire, and a count of the calls without one."""

from typing import Any

from rest_framework.authentication import BaseAuthentication, TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from adminconfig.services import token_expired

from .throttling import anonymous_throttle_check


class ExpiringTokenAuthentication(TokenAuthentication):
    """Tokens last API_TOKEN_LIFETIME_DAYS from when they were issued (default 30).

    A bad or expired token counts against the anonymous rate of its address: guessing
    tokens is throttled like any anonymous request.
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            anonymous_throttle_check(request)
            raise

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            token.delete()
            raise AuthenticationFailed("Token has expired; get a new one from auth/token/.")
        return user, token


class AnonymousThrottleAuthentication(BaseAuthentication):
    """Authenticates nobody. Last in the list, it sees only requests that no other class
    authenticated, and counts them against the anonymous rate (429 when over it)."""

    def authenticate(self, request: Request) -> None:
        anonymous_throttle_check(request)
        return None
