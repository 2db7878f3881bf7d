"""REST API for tasks, companies and picklists. Thin: parse, call a service, render."""

from typing import Any

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cockpit.pagination import IdCursorPagination, StandardPagination
from cockpit.selectors import task_differences

from . import selectors, services
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


class PicklistField(serializers.SlugRelatedField):
    """A picklist value by its string; an unknown one lists the allowed values."""

    def to_internal_value(self, data: Any) -> Any:
        values = self.get_queryset()
        assert values is not None  # every PicklistField is given its queryset
        try:
            return values.get(**{self.slug_field: data})
        except (TypeError, ValueError, values.model.DoesNotExist):
            allowed = ", ".join(values.values_list(self.slug_field, flat=True))
            raise serializers.ValidationError(
                f"Unknown value '{data}'. Allowed values: {allowed}."
            ) from None


class TaskDifferenceSerializer(serializers.Serializer):
    field = serializers.CharField(
        help_text="The Cockpit field: status, priority, owner, company, or a mapped field "
        "(custom:<key> for a custom field)."
    )
    label = serializers.CharField(help_text="The field as people know it, e.g. 'Status'.")  # type: ignore[assignment]
    words = serializers.CharField(
        help_text="What Salesforce holds, in words, e.g. 'In Salesforce: Deferred'."
    )


class TaskSyncSerializer(serializers.Serializer):
    state = serializers.CharField()
    with_differences = serializers.SerializerMethodField(
        help_text="True when the Salesforce twin holds values Cockpit cannot show (listed in "
        "`differences`): state 'synced' with this true is 'synced, with differences'."
    )
    differences = TaskDifferenceSerializer(
        many=True,
        help_text="Each field where the Salesforce twin holds what Cockpit does not show: a "
        "value with no Cockpit mapping, an owner without a Cockpit account, a value of a field "
        "mapped from Salesforce only.",
    )
    last_synced_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(source="last_error")
    desynced_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the owner stopped syncing this task (desync); null while it syncs.",
    )

    def get_with_differences(self, record: TaskSyncRecord) -> bool:
        return bool(record.differences)  # type: ignore[attr-defined]


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
    due_date = serializers.DateField(
        required=False,
        allow_null=True,
        error_messages={
            "invalid": "Enter a real date in the format YYYY-MM-DD (year-month-day), "
            "e.g. 2026-12-31.",
            "datetime": "Enter a date without a time, in the format YYYY-MM-DD, e.g. 2026-12-31.",
        },
    )
    custom_fields = serializers.JSONField(
        required=False,
        help_text='An object of custom field values by key, e.g. {"seats": 40}.',
    )
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

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_salesforce_id(self, task: Task) -> str | None:
        return self._sync_record(task).salesforce_id

    @extend_schema_field(TaskSyncSerializer)
    def get_sync(self, task: Task) -> dict[str, Any]:
        # One nested serializer for every row of a list: a new one per task deep-copies its
        # fields each time, which was 40% of a 200-task page (issue 19).
        if not hasattr(self, "_sync_serializer"):
            self._sync_serializer = TaskSyncSerializer()
        differences = self.context.get("differences")
        if differences is None:  # one task (a GET, a write): its own few queries
            differences = task_differences([task])
        record = self._sync_record(task)
        record.differences = differences.get(task.pk, [])  # type: ignore[attr-defined]
        return dict(self._sync_serializer.to_representation(record))

    def validate_owner(self, owner: Any) -> Any:
        user = self.context["request"].user
        if not user.is_staff and owner != user:
            raise serializers.ValidationError("You can only assign tasks to yourself.")
        return owner

    def validate_custom_fields(self, value: Any) -> dict[str, Any]:
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError(
                'Send an object of values by custom field key, e.g. {"seats": 40}, '
                f"not {'a list' if isinstance(value, list) else 'a ' + type(value).__name__}."
            )
        # A ValidationError keyed by custom field key nests under custom_fields in the 400.
        # A PUT replaces the values: what it leaves out is not kept (services.task_replace).
        existing = self.instance.custom_fields if self.instance and self.partial else None
        return custom_fields_clean(value, existing=existing)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The sync alone links a task to Salesforce. Sending the Id the task has (a PUT of what
        # a GET returned) is fine; another one is refused rather than silently dropped while
        # the rest of the write goes through.
        data = getattr(self, "initial_data", None)
        sent = data.get("salesforce_id") if isinstance(data, dict) else None
        if sent is not None:
            current = self._sync_record(self.instance).salesforce_id if self.instance else None
            if sent != current:
                raise serializers.ValidationError(
                    {"salesforce_id": "Read-only: the sync sets it when it links the task."}
                )
        if self.instance is not None:
            # task_update refuses these too; checked here as well so that a locked custom
            # field's error nests under custom_fields like its other errors.
            try:
                services.task_locked_changes_check(task=self.instance, changes=attrs)
            except DjangoValidationError as exc:
                custom_keys = set(exc.message_dict) - set(services.LOCKABLE)
                errors: dict[str, Any] = {
                    k: v for k, v in exc.message_dict.items() if k not in custom_keys
                }
                if custom_keys:
                    errors["custom_fields"] = {k: exc.message_dict[k] for k in custom_keys}
                raise serializers.ValidationError(errors) from None
        # Required custom fields must be present on create and PUT even when custom_fields is
        # omitted.
        if not self.partial and "custom_fields" not in attrs:
            try:
                custom_fields_clean({})
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"custom_fields": exc.message_dict}) from None
        return attrs


ORDERING_FIELDS: dict[str, tuple[str, ...]] = {
    "due_date": ("due_date", "id"),
    "name": ("name", "id"),
    "priority": ("priority__order", "id"),
    "status": ("status__order", "id"),
    "created_at": ("created_at", "id"),
    "updated_at": ("updated_at", "id"),
}


class PicklistChoiceField(forms.ModelChoiceField):
    """A picklist value by its string; an unknown one lists the allowed values."""

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except DjangoValidationError:
            assert self.queryset is not None and self.to_field_name  # given by the filter
            allowed = ", ".join(self.queryset.values_list(self.to_field_name, flat=True))
            raise DjangoValidationError(
                f"Unknown value '{value}'. Allowed values: {allowed}.", code="invalid_choice"
            ) from None


@extend_schema_field(OpenApiTypes.STR)
class PicklistFilter(django_filters.ModelChoiceFilter):
    # The stubs type field_class as ModelChoiceField exactly; a subclass is what django-filter
    # expects here.
    field_class = PicklistChoiceField  # type: ignore[assignment]


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.Filter):
    """An id that need not exist (no 400 that would tell a CSM which ids do): a whole number."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Beyond a 64-bit key nothing matches; PostgreSQL would refuse to compare it.
        kwargs.setdefault("min_value", -(2**63))
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class TaskFilter(django_filters.FilterSet):
    """Query parameters of the task list; a bad value is a 400 naming it, not an empty list."""

    status = PicklistFilter(
        queryset=Status.objects.all(), to_field_name="value", help_text="Status value, e.g. Open"
    )
    priority = PicklistFilter(
        queryset=Priority.objects.all(),
        to_field_name="value",
        help_text="Priority value, e.g. High",
    )
    owner = IdFilter(field_name="owner_id", help_text="Owner user id")
    company = IdFilter(field_name="company_id", help_text="Company id")
    due = django_filters.ChoiceFilter(
        choices=[(c, c) for c in selectors.DUE_CHOICES],
        method="filter_due",
        help_text="Relative to the requesting user's today (their profile's time zone).",
    )
    due_after = django_filters.DateFilter(
        field_name="due_date", lookup_expr="gte", help_text="Due on or after"
    )
    due_before = django_filters.DateFilter(
        field_name="due_date", lookup_expr="lte", help_text="Due on or before"
    )
    sync_state = django_filters.ChoiceFilter(
        choices=TaskSyncRecord.State.choices, method="filter_sync_state"
    )
    search = django_filters.CharFilter(
        method="filter_search", max_length=200, help_text="Text in name, details or company name"
    )
    ordering = django_filters.ChoiceFilter(
        choices=[(o, o) for name in ORDERING_FIELDS for o in (name, f"-{name}")],
        method="filter_ordering",
        help_text="Prefix - for descending; default due_date",
    )

    class Meta:
        model = Task
        fields: list[str] = []

    def filter_due(self, qs: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        user = self.request.user if self.request is not None else AnonymousUser()
        return selectors.tasks_due(qs, due=value, today=selectors.user_today(user))

    def filter_sync_state(self, qs: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        if value == TaskSyncRecord.State.NOT_SYNCED:
            return qs.filter(Q(sync_record__isnull=True) | Q(sync_record__state=value))
        return qs.filter(sync_record__state=value)

    def filter_search(self, qs: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        return selectors.task_search(qs, text=value)

    def filter_ordering(self, qs: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        columns = ORDERING_FIELDS[value.lstrip("-")]
        if value.startswith("-"):
            columns = tuple(f"-{c}" for c in columns)
        return qs.order_by(*columns)


class TaskViewSet(viewsets.ModelViewSet):
    serializer_class = TaskSerializer
    queryset = Task.objects.none()  # for the schema; get_queryset scopes to the user

    @property
    def paginator(self) -> BasePagination | None:
        """Page numbers (the documented default), or a cursor when the client asks for one
        (`paging=cursor`, or a `cursor` from a previous page's link)."""
        if not hasattr(self, "_paginator"):
            request = getattr(self, "request", None)  # none while the schema is drawn
            params = request.query_params if request is not None else {}
            if "cursor" in params or params.get("paging") == "cursor":
                if "ordering" in params:
                    raise serializers.ValidationError(
                        {"ordering": ["Cursor paging walks tasks in id order: leave out ordering."]}
                    )
                self._paginator: BasePagination | None = IdCursorPagination()
            else:
                self._paginator = StandardPagination()
        return self._paginator

    def get_queryset(self) -> QuerySet[Task]:
        return selectors.tasks_visible_to(self.request.user)

    def paginate_queryset(self, queryset: QuerySet[Task]) -> list[Task] | None:
        # What each task's Salesforce twin holds that Cockpit cannot show, read for the whole
        # page at once (a few queries whatever its length), not once a row.
        page = super().paginate_queryset(queryset)
        self._differences = task_differences(page or [])
        return page

    def get_serializer_context(self) -> dict[str, Any]:
        return {
            **super().get_serializer_context(),
            "differences": getattr(self, "_differences", None),
        }

    filterset_class = TaskFilter

    def filter_queryset(self, queryset: QuerySet[Task]) -> QuerySet[Task]:
        # The filters narrow the list; an id in the path is looked up whatever the query says.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        owner = data.pop("owner", request.user)
        task = services.task_create(owner=owner, **data)
        # As a GET of it would answer: a client may PATCH with If-Match straight away.
        return Response(
            self.get_serializer(task).data,
            status=status.HTTP_201_CREATED,
            headers={"ETag": services.task_etag(task)},
        )

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        task = self.get_object()
        return Response(self.get_serializer(task).data, headers={"ETag": services.task_etag(task)})

    @extend_schema(
        responses={
            200: TaskSerializer,
            412: OpenApiResponse(description="If-Match names a version the task no longer has"),
        }
    )
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """PATCH changes the fields it sends, PUT sets every field (one left out takes the value
        a create gives it); either writes only what differs from the stored task. With
        `If-Match: <ETag of a GET>`, a task written since (a pull from Salesforce, another
        client) answers 412 and nothing is saved."""
        task = self.get_object()
        partial = bool(kwargs.get("partial"))
        serializer = self.get_serializer(task, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        if_match = request.headers.get("If-Match")
        expected = {"etag": if_match} if if_match else None
        try:
            if partial:
                task = services.task_update(
                    task=task, expected=expected, **serializer.validated_data
                )
            else:
                task = services.task_replace(
                    task=task, expected=expected, **serializer.validated_data
                )
        except services.TaskChangedError as exc:
            return Response({"detail": exc.messages[0]}, status=status.HTTP_412_PRECONDITION_FAILED)
        except services.TaskGoneError as exc:
            raise NotFound(exc.messages[0]) from exc
        return Response(self.get_serializer(task).data, headers={"ETag": services.task_etag(task)})

    @extend_schema(
        responses={
            200: TaskSerializer,
            412: OpenApiResponse(description="If-Match names a version the task no longer has"),
        }
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        kwargs["partial"] = True
        return self.update(request, *args, **kwargs)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.task_delete(task=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={200: TaskSerializer, 400: OpenApiResponse(description="Not synced, or stopped")},
    )
    @action(detail=True, methods=["post"])
    def desync(self, request: Request, pk: str | None = None) -> Response:
        """Stop syncing this task (Gainsight's desync): both sides keep their data; Cockpit no
        longer pushes it or applies Salesforce's changes to it until it is synced again."""
        task = self.get_object()
        services.task_desync(task=task)
        return Response(self.get_serializer(task).data)

    @extend_schema(
        request=None,
        responses={200: TaskSerializer, 400: OpenApiResponse(description="Not stopped")},
    )
    @action(detail=True, methods=["post"])
    def resync(self, request: Request, pk: str | None = None) -> Response:
        """Sync a desynced task again: its push is queued, merging what changed on each side."""
        task = self.get_object()
        services.task_resync(task=task)
        return Response(self.get_serializer(task).data)


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

    def perform_create(self, serializer: CompanySerializer) -> None:
        serializer.instance = services.company_create(**serializer.validated_data)

    def perform_update(self, serializer: CompanySerializer) -> None:
        assert serializer.instance is not None  # an update has its object
        serializer.instance = services.company_update(
            company=serializer.instance, **serializer.validated_data
        )


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
