"""How the API knows who calls: tokens that expire, and a count of the calls without one."""

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Subquery
from rest_framework.authentication import BaseAuthentication, TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from adminconfig.permissions import SYNC_ADMIN_GROUP
from adminconfig.services import token_expired
from tasks.models import UserProfile

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


class SessionUserBackend(ModelBackend):
    """Django's ModelBackend, whose signed-in user comes with what every page asks of them: the
    time zone of their profile and whether they are in the Sync admin group. Read with the user
    in one query, not two more on every page (issue 19); tasks.selectors.user_time_zone and
    adminconfig.permissions.is_sync_admin use them when they are there."""

    def get_user(self, user_id: Any) -> User | None:
        profile = UserProfile.objects.filter(user=OuterRef("pk")).values("time_zone")[:1]
        admin = User.groups.through.objects.filter(
            user_id=OuterRef("pk"), group__name=SYNC_ADMIN_GROUP
        )
        user = (
            User._default_manager.annotate(
                profile_time_zone=Subquery(profile), in_sync_admin_group=Exists(admin)
            )
            .filter(pk=user_id)
            .first()
        )
        return user if user is not None and self.user_can_authenticate(user) else None
