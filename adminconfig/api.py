"""Admin-only API: CSM accounts and the sync configuration. Thin: parse, call a service, render."""

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import django_filters
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tasks.api import IdFilter
from tasks.models import UserProfile, salesforce_id_validator, time_zone_choices

from . import services
from .hooks import GatewayError
from .models import (
    FieldMapping,
    PicklistMapping,
    ResyncRun,
    SalesforceConnection,
    SyncSettings,
    UserMapping,
)
from .permissions import IsSyncAdmin
from .selectors import sync_settings

if TYPE_CHECKING:
    from rest_framework.permissions import _SupportsHasPermission

User = get_user_model()


# ---- users -------------------------------------------------------------------------------


class UserSerializer(serializers.ModelSerializer):
    password = serializers.CharField(
        write_only=True,
        required=False,
        style={"input_type": "password"},
        trim_whitespace=False,
        help_text="Write-only. Only superusers set other people's passwords; your own needs "
        "current_password.",
    )
    current_password = serializers.CharField(
        write_only=True,
        required=False,
        style={"input_type": "password"},
        trim_whitespace=False,
        help_text="Your current password, when you change your own.",
    )
    time_zone = serializers.ChoiceField(
        choices=time_zone_choices(), required=False, allow_blank=True
    )
    salesforce_user_id = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=18,
        validators=[salesforce_id_validator],
        help_text="The Salesforce User this CSM is (005…); empty removes the link.",
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "password",
            "current_password",
            "is_staff",
            "is_active",
            "time_zone",
            "salesforce_user_id",
        ]

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        try:
            data["time_zone"] = instance.profile.time_zone
        except UserProfile.DoesNotExist:
            data["time_zone"] = ""
        try:
            data["salesforce_user_id"] = instance.salesforce_user.salesforce_user_id
        except UserMapping.DoesNotExist:
            data["salesforce_user_id"] = None
        return data

    def validate_email(self, value: str) -> str:
        if not value:
            raise serializers.ValidationError("A CSM needs an email (it matches Salesforce users).")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        password = attrs.get("password")
        if self.instance is None and not password:
            raise serializers.ValidationError({"password": "This field is required."})
        if password:
            candidate = User(
                username=attrs.get("username", getattr(self.instance, "username", "")),
                email=attrs.get("email", getattr(self.instance, "email", "")),
            )
            try:
                validate_password(password, candidate)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": exc.messages}) from None
        return attrs

    def _save(self, instance: Any, data: dict[str, Any]) -> Any:
        has_sf = "salesforce_user_id" in data
        sf_id = data.pop("salesforce_user_id", None)
        by = self.context["request"].user
        if instance is None:
            data.pop("current_password", None)
            instance = services.user_create(by=by, **data)
        else:
            instance = services.user_update(user=instance, by=by, **data)
        if has_sf:
            services.user_mapping_set(user=instance, salesforce_user_id=sf_id)
        return User.objects.select_related("profile", "salesforce_user").get(pk=instance.pk)

    def create(self, validated_data: dict[str, Any]) -> Any:
        return self._save(None, validated_data)

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        return self._save(instance, validated_data)


class MayChangeAccount(permissions.BasePermission):
    """Refuses a change to an account the caller may not change at all (a staff, superuser or
    sync admin account, for staff who are not superusers) before its input is even read."""

    message = (
        "Only superusers change staff, superuser and sync admin accounts, and accounts with "
        "permissions you do not hold."
    )

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        try:
            services.user_change_check(by=request.user, user=obj, changes={})
        except DjangoPermissionDenied:
            return False
        return True


class UserViewSet(viewsets.ModelViewSet):
    """Staff list, create and change CSM accounts; sync admins set their Salesforce user.

    Only superusers change staff and superuser accounts, grant staff status or set other
    people's passwords (403 otherwise).
    """

    queryset = User.objects.select_related("profile", "salesforce_user").order_by("username")
    serializer_class = UserSerializer
    permission_classes = [permissions.IsAdminUser, MayChangeAccount]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def get_permissions(self) -> "Sequence[_SupportsHasPermission]":
        # Setting a CSM's Salesforce user is sync configuration: sync admins only.
        data = self.request.data
        if self.request.method not in permissions.SAFE_METHODS and (
            isinstance(data, Mapping) and "salesforce_user_id" in data
        ):
            return [permissions.IsAdminUser(), MayChangeAccount(), IsSyncAdmin()]
        return [permission() for permission in self.permission_classes]


# ---- sync settings -----------------------------------------------------------------------


class SyncSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncSettings
        fields = [
            "auto_sync",
            "bidirectional_sync",
            "first_enabled_at",
            "initial_import_hours",
            "deletion_window_days",
            "pull_interval_seconds",
            "conflict_policy",
            "updated_at",
        ]
        read_only_fields = ["first_enabled_at", "updated_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current = self.instance
        auto = attrs.get("auto_sync", current.auto_sync if current else False)
        bidi = attrs.get("bidirectional_sync", current.bidirectional_sync if current else False)
        services.sync_settings_check(
            auto_sync=auto,
            bidirectional_sync=bidi,
            auto_sync_was=current.auto_sync if current else False,
        )
        return attrs


class SyncSettingsView(APIView):
    """The sync switches: auto_sync (outbound), bidirectional_sync (inbound too) and timings."""

    permission_classes = [IsSyncAdmin]

    @extend_schema(responses=SyncSettingsSerializer)
    def get(self, request: Request) -> Response:
        return Response(SyncSettingsSerializer(sync_settings()).data)

    @extend_schema(request=SyncSettingsSerializer, responses=SyncSettingsSerializer)
    def put(self, request: Request) -> Response:
        return self._change(request, partial=False)

    @extend_schema(request=SyncSettingsSerializer, responses=SyncSettingsSerializer)
    def patch(self, request: Request) -> Response:
        return self._change(request, partial=True)

    def _change(self, request: Request, *, partial: bool) -> Response:
        serializer = SyncSettingsSerializer(
            services.sync_settings_get(), data=request.data, partial=partial
        )
        serializer.is_valid(raise_exception=True)
        updated = services.sync_settings_update(**serializer.validated_data)
        return Response(SyncSettingsSerializer(updated).data)


# ---- connections -------------------------------------------------------------------------


class ConnectionSerializer(serializers.ModelSerializer):
    client_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Write-only; never returned. Leave out to keep the stored secret.",
    )
    has_client_secret = serializers.BooleanField(source="has_secret", read_only=True)
    # Declared, so DRF adds no "already exists" check: making one primary demotes the other.
    is_primary = serializers.BooleanField(required=False, default=False)

    class Meta:
        model = SalesforceConnection
        fields = [
            "id",
            "name",
            "is_primary",
            "login_url",
            "client_id",
            "client_secret",
            "has_client_secret",
            "api_version",
            "ca_bundle",
            "default_status",
            "default_priority",
            "external_id_field",
            "daily_api_budget",
            "state",
            "last_error",
            "last_checked_at",
            "describe_fetched_at",
        ]
        read_only_fields = ["state", "last_error", "last_checked_at", "describe_fetched_at"]
        # The single-primary rule is the service's (it demotes the old primary), not a 400.
        validators: list[Any] = []

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and not attrs.get("client_secret"):
            raise serializers.ValidationError({"client_secret": "This field is required."})
        services.connection_ca_bundle_check(attrs.get("ca_bundle", ""))
        return attrs


class ResyncPreviewSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Synced tasks the save re-syncs.")
    written = serializers.IntegerField(help_text="Of them, tasks whose Salesforce twin it writes.")
    by_field = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Per Salesforce field, for how many tasks its value changes in Salesforce.",
    )
    newly_mapped = serializers.ListField(
        child=serializers.CharField(),
        help_text="Salesforce fields mapped anew: counted as if Salesforce were empty there (the "
        "re-sync compares their actual values).",
    )
    sentence = serializers.CharField(help_text="The same, as the admin's save preview says it.")


class DryRunSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    saved = serializers.BooleanField(help_text="Always false: nothing of a dry run is kept.")
    resync = ResyncPreviewSerializer()


DRY_RUN = OpenApiParameter(
    "dry_run",
    bool,
    description="true: check the change and answer what saving it would re-sync (the admin's "
    "save preview, 200 with `resync`), saving nothing. A refused change answers 400 as a save "
    "would.",
)


def _with_dry_run(saved: type[serializers.Serializer], *actions: str) -> Any:
    """The schema of writes that take `?dry_run=true`: each answers as it always does (the
    saved row, 201 or 204) or, for a dry run, 200 with DryRun."""
    name = saved.__name__.removesuffix("Serializer")
    either = PolymorphicProxySerializer(
        component_name=f"{name}OrDryRun",
        serializers=[saved, DryRunSerializer],
        resource_type_field_name=None,
    )
    responses: dict[str, dict[int, Any]] = {
        "create": {201: saved, 200: DryRunSerializer},
        "update": {200: either},
        "partial_update": {200: either},
        "destroy": {204: None, 200: DryRunSerializer},
    }
    return extend_schema_view(
        **{
            action: extend_schema(parameters=[DRY_RUN], responses=responses[action])
            for action in actions
        }
    )


class DryRunMixin:
    """`?dry_run=true` on a write of the sync configuration: the write is made, counted by the
    engine as the admin's save preview counts it, and rolled back (services.
    mapping_change_preview); the answer is the count. Without it, the write saves and
    re-syncs as before."""

    request: Request

    @property
    def dry_run(self) -> bool:
        value = self.request.query_params.get("dry_run")
        if value is None:
            return False
        try:
            return bool(serializers.BooleanField().to_internal_value(value))
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"dry_run": exc.detail}) from None

    def _previewed(self, write: Callable[[], Response]) -> Response:
        if not self.dry_run:
            return write()
        _, preview = services.mapping_change_preview(change=write)
        resync = {
            "total": preview.total,
            "written": preview.written,
            "by_field": preview.by_field,
            "newly_mapped": preview.newly_mapped,
            "sentence": preview.sentence(),
        }
        return Response(DryRunSerializer({"dry_run": True, "saved": False, "resync": resync}).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._previewed(lambda: super(DryRunMixin, self).create(request, *args, **kwargs))

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._previewed(lambda: super(DryRunMixin, self).update(request, *args, **kwargs))

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._previewed(lambda: super(DryRunMixin, self).destroy(request, *args, **kwargs))


class OrgReportSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    state = serializers.CharField()


# A debug page lists a form-encoded body's fields: never the client secret's value.
@method_decorator(sensitive_post_parameters("client_secret"), name="dispatch")
@_with_dry_run(ConnectionSerializer, "update", "partial_update")
class ConnectionViewSet(DryRunMixin, viewsets.ModelViewSet):
    """Salesforce connections; exactly one is primary and only the primary syncs."""

    queryset = SalesforceConnection.objects.all()
    serializer_class = ConnectionSerializer
    permission_classes = [IsSyncAdmin]

    def perform_create(self, serializer: ConnectionSerializer) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.connection_create(**data)

    def perform_update(self, serializer: ConnectionSerializer) -> None:
        assert serializer.instance is not None  # an update has its object
        serializer.instance = services.connection_update(
            connection=serializer.instance, resync=not self.dry_run, **serializer.validated_data
        )

    @extend_schema(request=None, responses=OrgReportSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Log in, read the org's limits and the Task describe; say what was found."""
        report = services.connection_test(connection=self.get_object())
        return Response(
            OrgReportSerializer(report).data,
            status=status.HTTP_200_OK if report.ok else status.HTTP_502_BAD_GATEWAY,
        )

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "MatchUsersResult",
            {
                "matched": serializers.ListField(child=serializers.CharField()),
                "unmatched": serializers.ListField(child=serializers.CharField()),
            },
        ),
    )
    @action(detail=True, methods=["post"], url_path="match-users")
    def match_users(self, request: Request, pk: str | None = None) -> Response:
        """Map each CSM to the Salesforce user with the same email (hand-set links are kept)."""
        try:
            result = services.users_match_by_email(connection=self.get_object())
        except GatewayError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_502_BAD_GATEWAY)
        return Response({"matched": result.matched, "unmatched": result.unmatched})


# ---- mappings ----------------------------------------------------------------------------


class PrimaryDefault:
    requires_context = False

    def __call__(self) -> SalesforceConnection | None:
        return services.connection_primary()


class FieldMappingSerializer(serializers.ModelSerializer):
    connection = serializers.PrimaryKeyRelatedField(
        queryset=SalesforceConnection.objects.all(), default=PrimaryDefault()
    )

    class Meta:
        model = FieldMapping
        fields = ["id", "connection", "cockpit_field", "salesforce_field", "direction", "editable"]
        validators: list[Any] = []  # uniqueness is checked by the service, with clear words

    def validate_connection(self, value: SalesforceConnection | None) -> SalesforceConnection:
        if value is None:
            raise serializers.ValidationError("Create a Salesforce connection first.")
        return value


class FieldMappingFilter(django_filters.FilterSet):
    connection = IdFilter(field_name="connection_id", help_text="Connection id")

    class Meta:
        model = FieldMapping
        fields: list[str] = []


@_with_dry_run(FieldMappingSerializer, "create", "update", "partial_update", "destroy")
class FieldMappingViewSet(DryRunMixin, viewsets.ModelViewSet):
    """Cockpit task field ↔ Salesforce Task field, with a direction. Saving re-syncs."""

    serializer_class = FieldMappingSerializer
    permission_classes = [IsSyncAdmin]

    queryset = FieldMapping.objects.select_related("connection")
    filterset_class = FieldMappingFilter

    def perform_create(self, serializer: FieldMappingSerializer) -> None:
        serializer.instance = services.field_mapping_save(
            resync=not self.dry_run, **serializer.validated_data
        )

    def perform_update(self, serializer: FieldMappingSerializer) -> None:
        current = serializer.instance
        data = {
            "connection": current.connection,
            "cockpit_field": current.cockpit_field,
            "salesforce_field": current.salesforce_field,
            "direction": current.direction,
            "editable": current.editable,
            **serializer.validated_data,
        }
        serializer.instance = services.field_mapping_save(
            mapping=current, resync=not self.dry_run, **data
        )

    def perform_destroy(self, instance: FieldMapping) -> None:
        services.field_mapping_delete(mapping=instance, resync=not self.dry_run)


class PicklistMappingSerializer(serializers.ModelSerializer):
    connection = serializers.PrimaryKeyRelatedField(
        queryset=SalesforceConnection.objects.all(), default=PrimaryDefault()
    )
    salesforce_values = serializers.ListField(
        child=serializers.CharField(max_length=255),
        allow_empty=False,
        help_text="Ordered: the first is what Cockpit sends; every one maps back.",
    )

    class Meta:
        model = PicklistMapping
        fields = ["id", "connection", "picklist", "cockpit_value", "salesforce_values"]
        validators: list[Any] = []

    def validate_connection(self, value: SalesforceConnection | None) -> SalesforceConnection:
        if value is None:
            raise serializers.ValidationError("Create a Salesforce connection first.")
        return value


class PicklistMappingFilter(django_filters.FilterSet):
    connection = IdFilter(field_name="connection_id", help_text="Connection id")
    picklist = django_filters.ChoiceFilter(choices=PicklistMapping.Picklist.choices)

    class Meta:
        model = PicklistMapping
        fields: list[str] = []


@_with_dry_run(PicklistMappingSerializer, "create", "update", "partial_update", "destroy")
class PicklistMappingViewSet(DryRunMixin, viewsets.ModelViewSet):
    """Status and Priority values: one Cockpit value to one or more Salesforce values."""

    serializer_class = PicklistMappingSerializer
    permission_classes = [IsSyncAdmin]

    queryset = PicklistMapping.objects.select_related("connection")
    filterset_class = PicklistMappingFilter

    def perform_create(self, serializer: PicklistMappingSerializer) -> None:
        serializer.instance = services.picklist_mapping_save(
            resync=not self.dry_run, **serializer.validated_data
        )

    def perform_update(self, serializer: PicklistMappingSerializer) -> None:
        current = serializer.instance
        data = {
            "connection": current.connection,
            "picklist": current.picklist,
            "cockpit_value": current.cockpit_value,
            "salesforce_values": current.salesforce_values,
            **serializer.validated_data,
        }
        serializer.instance = services.picklist_mapping_save(
            mapping=current, resync=not self.dry_run, **data
        )

    def perform_destroy(self, instance: PicklistMapping) -> None:
        services.picklist_mapping_delete(mapping=instance, resync=not self.dry_run)


class ResyncRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ResyncRun
        fields = [
            "id",
            "connection",
            "reason",
            "total",
            "done",
            "failed",
            "started_at",
            "finished_at",
        ]


class ResyncRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Re-syncs started by mapping changes, newest first, with their progress."""

    queryset = ResyncRun.objects.all()
    serializer_class = ResyncRunSerializer
    permission_classes = [IsSyncAdmin]
