"""API plumbing that belongs to no single app: the token endpoint and the router."""

from collections.abc import Sequence
from typing import Any, cast

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from adminconfig.api import (
    ConnectionViewSet,
    FieldMappingViewSet,
    PicklistMappingViewSet,
    ResyncRunViewSet,
    UserViewSet,
)
from adminconfig.services import (
    token_expires_at,
    user_password_change,
    user_token_issue,
    user_tokens_revoke,
)
from sync.api import (
    ConflictViewSet,
    ReconcileRunViewSet,
    SyncErrorViewSet,
    SyncEventViewSet,
)
from tasks.api import CompanyViewSet, TaskViewSet

from .lockout import lockout_response
from .throttling import LoginIPThrottle, LoginThrottle, LoginUsernameThrottle


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class TokenView(ObtainAuthToken):
    """POST username and password for a token; DELETE revokes the caller's token.

    A token lasts API_TOKEN_LIFETIME_DAYS (default 30) from when it was issued; asking
    again returns the same token until then, a new one after. Failed attempts are throttled
    per client IP and per username (429 with Retry-After; a right password is not counted);
    they are logged, without the password, by cockpit.signals.
    """

    # api_settings hands out the classes its setting names (the stubs say names).
    parser_classes = cast(Sequence[type[BaseParser]], api_settings.DEFAULT_PARSER_CLASSES)
    login_throttles: list[LoginThrottle]

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "DELETE":
            return [IsAuthenticated()]
        return [AllowAny()]

    def get_throttles(self) -> list[BaseThrottle]:
        if self.request.method == "POST":
            # Kept: a right password gives its counted attempt back (LoginThrottle.refund).
            self.login_throttles = [LoginIPThrottle(), LoginUsernameThrottle()]
            return list(self.login_throttles)
        return super().get_throttles()

    @extend_schema(responses=TokenSerializer)
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        valid = serializer.is_valid()
        # django-axes refused the attempt (this username from this address is locked out): it
        # marks the request it was given, DRF's, which the middleware never sees.
        if getattr(request, "axes_locked_out", False):
            return cast(Response, lockout_response(request._request))
        if not valid:
            raise ValidationError(serializer.errors)
        token = user_token_issue(user=serializer.validated_data["user"])
        for throttle in self.login_throttles:
            throttle.refund()
        return Response(
            TokenSerializer({"token": token.key, "expires_at": token_expires_at(token)}).data
        )

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        assert isinstance(request.user, User)  # IsAuthenticated let it through
        user_tokens_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


PASSWORD_INPUT = {"input_type": "password"}


class PasswordChangeSerializer(serializers.Serializer):
    current_password = serializers.CharField(trim_whitespace=False, style=PASSWORD_INPUT)
    new_password = serializers.CharField(trim_whitespace=False, style=PASSWORD_INPUT)

    def validate_new_password(self, value: str) -> str:
        validate_password(value, self.context["request"].user)
        return value


class PasswordView(APIView):
    """POST current_password and new_password: change your own password.

    Every API token of yours is revoked (get a new one from auth/token/).
    """

    permission_classes = [IsAuthenticated]

    @extend_schema(request=PasswordChangeSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        serializer = PasswordChangeSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        assert isinstance(request.user, User)  # IsAuthenticated let it through
        user_password_change(user=request.user, **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


router = DefaultRouter()
router.register("tasks", TaskViewSet, basename="task")
router.register("companies", CompanyViewSet, basename="company")
router.register("users", UserViewSet, basename="user")
router.register("sync/connections", ConnectionViewSet, basename="sync-connection")
router.register("sync/field-mappings", FieldMappingViewSet, basename="sync-field-mapping")
router.register("sync/picklist-mappings", PicklistMappingViewSet, basename="sync-picklist-mapping")
router.register("sync/resync-runs", ResyncRunViewSet, basename="sync-resync-run")
router.register("sync/errors", SyncErrorViewSet, basename="sync-error")
router.register("sync/events", SyncEventViewSet, basename="sync-event")
router.register("sync/conflicts", ConflictViewSet, basename="sync-conflict")
router.register("sync/reconcile-runs", ReconcileRunViewSet, basename="sync-reconcile-run")
