"""REST API for tasks, companies and picklists. Thin: parse, call a service, render."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import hooks, selectors, services
from .custom_fields import custom_fields_clean
from .models import (
    DETAILS_MAX_LENGTH,
    NAME_MAX_LENGTH,
    Company,
    CustomField,
    Priority,
    Status,
    Task,
    TaskSyncRecord,
    TaskType,
)

User = get_user_model()


def as_drf_error(exc: DjangoValidationError) -> serializers.ValidationError:
    if hasattr(exc, "error_dict"):
        return serializers.ValidationError(exc.message_dict)
    return serializers.ValidationError({"non_field_errors": exc.messages})


class PicklistField(serializers.SlugRelatedField):
    """A picklist value by its string; an unknown one lists the allowed values."""

    def to_internal_value(self, data: Any) -> Any:
        try:
            return self.get_queryset().get(**{self.slug_field: data})
        except (TypeError, ValueError, self.get_queryset().model.DoesNotExist):
            allowed = ", ".join(self.get_queryset().values_list(self.slug_field, flat=True))
            raise serializers.ValidationError(
                f"Unknown value '{data}'. Allowed values: {allowed}."
            ) from None


class TaskSyncSerializer(serializers.Serializer):
    state = serializers.CharField()
    last_synced_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(source="last_error")


class TaskSerializer(serializers.ModelSerializer):
    name = serializers.CharField(max_length=NAME_MAX_LENGTH)
    details = serializers.CharField(max_length=DETAILS_MAX_LENGTH, required=False, allow_blank=True)
    status = PicklistField(
        slug_field="value", queryset=Status.objects.filter(is_active=True), required=False
    )
    priority = PicklistField(
        slug_field="value", queryset=Priority.objects.filter(is_active=True), required=False
    )
    type = PicklistField(
        slug_field="name",
        queryset=TaskType.objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), required=False)
    company = serializers.PrimaryKeyRelatedField(
        queryset=Company.objects.all(), required=False, allow_null=True
    )
    custom_fields = serializers.JSONField(required=False)
    is_closed = serializers.BooleanField(read_only=True)
    salesforce_id = serializers.SerializerMethodField()
    sync = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "id",
            "name",
            "status",
            "priority",
            "due_date",
            "details",
            "owner",
            "company",
            "type",
            "custom_fields",
            "is_closed",
            "completed_at",
            "created_at",
            "updated_at",
            "salesforce_id",
            "sync",
        ]
        read_only_fields = ["completed_at", "created_at", "updated_at"]

    def _sync_record(self, task: Task) -> TaskSyncRecord:
        try:
            return task.sync_record
        except TaskSyncRecord.DoesNotExist:
            return TaskSyncRecord(task=task)

    @extend_schema_field(OpenApiTypes.STR)
    def get_salesforce_id(self, task: Task) -> str | None:
        return self._sync_record(task).salesforce_id

    @extend_schema_field(TaskSyncSerializer)
    def get_sync(self, task: Task) -> dict[str, Any]:
        return TaskSyncSerializer(self._sync_record(task)).data

    def _refuse_locked_changes(self, attrs: dict[str, Any]) -> None:
        """Fields an admin mapped as not editable belong to Salesforce while the task syncs."""
        locked = hooks.locked_fields(self.instance)
        errors: dict[str, Any] = {}
        for name in locked & {"name", "details", "due_date"}:
            if name in attrs and attrs[name] != getattr(self.instance, name):
                errors[name] = ["Synced from Salesforce: change it there."]
        stored = self.instance.custom_fields or {}
        custom = {
            key: ["Synced from Salesforce: change it there."]
            for key, value in (attrs.get("custom_fields") or {}).items()
            if f"custom:{key}" in locked and value != stored.get(key)
        }
        if custom:
            errors["custom_fields"] = custom
        if errors:
            raise serializers.ValidationError(errors)

    def validate_owner(self, owner: Any) -> Any:
        user = self.context["request"].user
        if not user.is_staff and owner != user:
            raise serializers.ValidationError("You can only assign tasks to yourself.")
        return owner

    def validate_custom_fields(self, value: Any) -> dict[str, Any]:
        existing = self.instance.custom_fields if self.instance else None
        try:
            return custom_fields_clean(value, existing=existing)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None:
            self._refuse_locked_changes(attrs)
        # Required custom fields must be present on create even when custom_fields is omitted.
        if self.instance is None and "custom_fields" not in attrs:
            try:
                custom_fields_clean({})
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"custom_fields": exc.message_dict}) from None
        return attrs


ORDERING_FIELDS = {
    "due_date": ("due_date", "id"),
    "name": ("name", "id"),
    "priority": ("priority__order", "id"),
    "status": ("status__order", "id"),
    "created_at": ("created_at", "id"),
    "updated_at": ("updated_at", "id"),
}


class TaskFilterSerializer(serializers.Serializer):
    """Query parameters of the task list; a bad value is a 400, not an empty list."""

    status = PicklistField(slug_field="value", queryset=Status.objects.all(), required=False)
    priority = PicklistField(slug_field="value", queryset=Priority.objects.all(), required=False)
    owner = serializers.IntegerField(required=False)
    company = serializers.IntegerField(required=False)
    due = serializers.ChoiceField(choices=selectors.DUE_CHOICES, required=False)
    due_after = serializers.DateField(required=False)
    due_before = serializers.DateField(required=False)
    sync_state = serializers.ChoiceField(choices=TaskSyncRecord.State.values, required=False)
    search = serializers.CharField(required=False, max_length=200)
    ordering = serializers.ChoiceField(
        choices=[*ORDERING_FIELDS, *(f"-{name}" for name in ORDERING_FIELDS)], required=False
    )


def task_filter(qs: QuerySet[Task], *, params: dict[str, Any], request: Request) -> QuerySet[Task]:
    if "status" in params:
        qs = qs.filter(status=params["status"])
    if "priority" in params:
        qs = qs.filter(priority=params["priority"])
    if "owner" in params:
        qs = qs.filter(owner_id=params["owner"])
    if "company" in params:
        qs = qs.filter(company_id=params["company"])
    if "due" in params:
        qs = selectors.tasks_due(qs, due=params["due"], today=selectors.user_today(request.user))
    if "due_after" in params:
        qs = qs.filter(due_date__gte=params["due_after"])
    if "due_before" in params:
        qs = qs.filter(due_date__lte=params["due_before"])
    if "sync_state" in params:
        state = params["sync_state"]
        if state == TaskSyncRecord.State.NOT_SYNCED:
            qs = qs.filter(sync_record__isnull=True) | qs.filter(sync_record__state=state)
        else:
            qs = qs.filter(sync_record__state=state)
    if "search" in params:
        qs = selectors.task_search(qs, text=params["search"])
    ordering = params.get("ordering", "due_date")
    columns = ORDERING_FIELDS[ordering.lstrip("-")]
    if ordering.startswith("-"):
        columns = tuple(f"-{c}" for c in columns)
    return qs.order_by(*columns)


_FILTER_PARAMS = [
    OpenApiParameter("status", str, description="Status value, e.g. Open"),
    OpenApiParameter("priority", str, description="Priority value, e.g. High"),
    OpenApiParameter("owner", int, description="Owner user id"),
    OpenApiParameter("company", int, description="Company id"),
    OpenApiParameter(
        "due",
        str,
        enum=list(selectors.DUE_CHOICES),
        description="Relative to the requesting user's today (their profile's time zone).",
    ),
    OpenApiParameter("due_after", OpenApiTypes.DATE, description="Due on or after"),
    OpenApiParameter("due_before", OpenApiTypes.DATE, description="Due on or before"),
    OpenApiParameter("sync_state", str, enum=TaskSyncRecord.State.values),
    OpenApiParameter("search", str, description="Text in name, details or company name"),
    OpenApiParameter(
        "ordering",
        str,
        description="due_date, name, priority, status, "
        "created_at, updated_at; prefix - for descending",
    ),
]


@extend_schema_view(list=extend_schema(parameters=_FILTER_PARAMS))
class TaskViewSet(viewsets.ModelViewSet):
    serializer_class = TaskSerializer
    queryset = Task.objects.none()  # for the schema; get_queryset scopes to the user

    def get_queryset(self) -> QuerySet[Task]:
        return selectors.tasks_visible_to(self.request.user)

    def filter_queryset(self, queryset: QuerySet[Task]) -> QuerySet[Task]:
        if self.action != "list":
            return queryset
        params = TaskFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return task_filter(queryset, params=params.validated_data, request=self.request)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        owner = data.pop("owner", request.user)
        try:
            task = services.task_create(owner=owner, **data)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        return Response(self.get_serializer(task).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        task = self.get_object()
        serializer = self.get_serializer(task, data=request.data, partial=kwargs.get("partial"))
        serializer.is_valid(raise_exception=True)
        try:
            task = services.task_update(task=task, **serializer.validated_data)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        return Response(self.get_serializer(task).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.task_delete(task=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class IsStaffOrReadOnly(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        return request.method in permissions.SAFE_METHODS or request.user.is_staff


class CompanySerializer(serializers.ModelSerializer):
    class Meta:
        model = Company
        fields = ["id", "name", "salesforce_account_id"]


class CompanyViewSet(viewsets.ModelViewSet):
    """Every CSM reads companies; staff create and change them."""

    queryset = Company.objects.all()
    serializer_class = CompanySerializer
    permission_classes = [IsStaffOrReadOnly]


class StatusSerializer(serializers.ModelSerializer):
    class Meta:
        model = Status
        fields = ["value", "label", "order", "is_closed", "is_default"]


class PrioritySerializer(serializers.ModelSerializer):
    class Meta:
        model = Priority
        fields = ["value", "label", "order", "is_default"]


class CustomFieldSerializer(serializers.ModelSerializer):
    class Meta:
        model = CustomField
        fields = ["key", "label", "field_type", "max_length", "required"]


class PicklistsSerializer(serializers.Serializer):
    status = StatusSerializer(many=True)
    priority = PrioritySerializer(many=True)
    type = serializers.ListField(child=serializers.CharField())
    custom_fields = CustomFieldSerializer(many=True)


class PicklistsView(APIView):
    """The values a task form offers: statuses, priorities, types and custom fields."""

    @extend_schema(responses=PicklistsSerializer)
    def get(self, request: Request) -> Response:
        data = {
            "status": Status.objects.filter(is_active=True),
            "priority": Priority.objects.filter(is_active=True),
            "type": list(TaskType.objects.filter(is_active=True).values_list("name", flat=True)),
            "custom_fields": CustomField.objects.filter(is_active=True),
        }
        return Response(PicklistsSerializer(data).data)
