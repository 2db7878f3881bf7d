"""REST API of the sync: push a task now, status and figures, failed pushes and their retry."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from adminconfig.permissions import IsSyncAdmin
from tasks.api import TaskSerializer
from tasks.selectors import tasks_visible_to

from . import inbound, outbox, reconcile, scheduler
from .exceptions import SyncOffError
from .models import Conflict, OutboxEntry, ReconcileRun, SyncEvent
from .selectors import failed_pushes, sync_events, sync_status, task_names

# What cannot be done now (sync off, a task desynced, a pull running): SyncOffError's reason.
REFUSAL = inline_serializer("Refusal", {"detail": serializers.CharField()})
PULL_NOT_RUN = "Bi-directional Sync is off, or a pull is running."

PushResultSerializer = inline_serializer(
    "PushResult",
    {
        "pushed": serializers.IntegerField(),
        "deleted": serializers.IntegerField(),
        "retried": serializers.IntegerField(),
        "failed": serializers.IntegerField(),
        "api_calls": serializers.IntegerField(),
        "errors": serializers.ListField(child=serializers.CharField()),
    },
)


class TaskPushView(APIView):
    """'Sync to Salesforce' for one task: queues its push (also of a task that predates the
    sync) and answers 202 with the task, pending until the worker has pushed it."""

    @extend_schema(request=None, responses={202: TaskSerializer, 409: REFUSAL})
    def post(self, request: Request, pk: int) -> Response:
        task = get_object_or_404(tasks_visible_to(request.user), pk=pk)
        # Sync off, or the task desynced: SyncOffError, a 409 (cockpit/exceptions.py).
        outbox.task_push_request(task=task)
        task = tasks_visible_to(request.user).get(pk=pk)
        return Response(
            TaskSerializer(task, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
        )


class SyncStatusView(APIView):
    """Sync health and figures: switches, the primary org and its API usage, the outbox."""

    permission_classes = [IsSyncAdmin]

    @extend_schema(
        responses=inline_serializer("SyncStatus", {"auto_sync": serializers.BooleanField()})
    )
    def get(self, request: Request) -> Response:
        return Response(sync_status())


class SyncPushView(APIView):
    """Push every due change now instead of waiting for the worker."""

    permission_classes = [IsSyncAdmin]

    @extend_schema(request=None, responses=PushResultSerializer)
    def post(self, request: Request) -> Response:
        result = scheduler.push_run()
        return Response(result.__dict__)


class SyncPullView(APIView):
    """Pull Salesforce changes and deletions now instead of waiting for the interval."""

    permission_classes = [IsSyncAdmin]

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "PullResult",
                {
                    "ran": serializers.BooleanField(),
                    "created": serializers.IntegerField(),
                    "updated": serializers.IntegerField(),
                    "unchanged": serializers.IntegerField(),
                    "deleted": serializers.IntegerField(),
                    "skipped": serializers.IntegerField(),
                    "conflicts": serializers.IntegerField(),
                    "api_calls": serializers.IntegerField(),
                    "errors": serializers.ListField(child=serializers.CharField()),
                },
            ),
            409: REFUSAL,
        },
    )
    def post(self, request: Request) -> Response:
        result = inbound.pull_run(force=True)
        if not result.ran:
            # A pull stopped half-way (its lease lost) says why after the usual reason.
            raise SyncOffError(" ".join([PULL_NOT_RUN, *result.errors]))
        return Response(result.__dict__)


class ConflictSerializer(serializers.ModelSerializer):
    class Meta:
        model = Conflict
        fields = [
            "id",
            "task_id",
            "salesforce_id",
            "salesforce_field",
            "cockpit_value",
            "salesforce_value",
            "winner",
            "policy",
            "created_at",
        ]


class ConflictViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Fields changed on both sides since the last sync, and which side won, newest first."""

    queryset = Conflict.objects.all()
    serializer_class = ConflictSerializer
    permission_classes = [IsSyncAdmin]


class SyncErrorSerializer(serializers.ModelSerializer):
    task_name = serializers.SerializerMethodField()

    class Meta:
        model = OutboxEntry
        fields = [
            "id",
            "task_id",
            "task_name",
            "salesforce_id",
            "operation",
            "state",
            "attempts",
            "last_error",
            "updated_at",
        ]

    def get_task_name(self, entry: OutboxEntry) -> str | None:
        names: dict[int, str] = self.context.get("task_names", {})
        return names.get(entry.task_id)


class SyncErrorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Pushes that failed for good, with the reason; POST .../retry/ tries again."""

    serializer_class = SyncErrorSerializer
    permission_classes = [IsSyncAdmin]

    def get_queryset(self) -> QuerySet[OutboxEntry]:
        return failed_pushes()

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        context["task_names"] = task_names(self.get_queryset().values_list("task_id", flat=True))
        return context

    @extend_schema(request=None, responses=SyncErrorSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        entry = outbox.entry_retry(entry=self.get_object())
        return Response(SyncErrorSerializer(entry, context=self.get_serializer_context()).data)


class SyncEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncEvent
        fields = ["id", "kind", "task_id", "salesforce_id", "message", "created_at"]


class SyncEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The sync log, newest first: pushes, pulls, skipped values, conflicts, retries, errors."""

    serializer_class = SyncEventSerializer
    permission_classes = [IsSyncAdmin]

    def get_queryset(self) -> QuerySet[SyncEvent]:
        return sync_events(kind=self.request.query_params.get("kind"))


class ReconcileRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReconcileRun
        fields = [
            "id",
            "trigger",
            "started_at",
            "finished_at",
            "checked",
            "repaired_in_cockpit",
            "repaired_in_salesforce",
            "conflicts",
            "twins_missing",
            "api_calls",
            "error",
        ]
        read_only_fields = fields


class ReconcileRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Drift repairs, newest first; POST starts one (it runs in the worker: 202)."""

    queryset = ReconcileRun.objects.all()
    serializer_class = ReconcileRunSerializer
    permission_classes = [IsSyncAdmin]

    @extend_schema(request=None, responses={202: ReconcileRunSerializer, 409: REFUSAL})
    def create(self, request: Request) -> Response:
        run = reconcile.reconcile_start(trigger="hand")  # sync off: 409 (cockpit/exceptions.py)
        return Response(ReconcileRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
