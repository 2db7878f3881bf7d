"""API plumbing that belongs to no single app: the token endpoint and the router."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from adminconfig.api import (
    ConnectionViewSet,
    FieldMappingViewSet,
    PicklistMappingViewSet,
    ResyncRunViewSet,
    UserViewSet,
)
from sync.api import ConflictViewSet, SyncErrorViewSet, SyncEventViewSet
from tasks.api import CompanyViewSet, TaskViewSet


class TokenView(ObtainAuthToken):
    """POST username and password for a token; DELETE revokes the caller's token."""

    def get_permissions(self):  # type: ignore[no-untyped-def]
        if self.request.method == "DELETE":
            return [IsAuthenticated()]
        return [AllowAny()]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        Token.objects.filter(user=request.user).delete()
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
