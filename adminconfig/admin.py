"""The sync configuration in the Django admin, in the order an admin thinks: connection,
switches, field mappings, picklist mappings, user mapping. Rules live in the services."""

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.views.decorators.debug import sensitive_post_parameters
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from . import services
from .fields import unmapped_salesforce_values
from .forms import (
    ConnectionForm,
    FieldMappingForm,
    FieldMappingFormSet,
    PicklistMappingForm,
    PriorityMappingFormSet,
    StatusMappingFormSet,
    SyncSettingsForm,
    TypeMappingFormSet,
)
from .hooks import GatewayError, ResyncPreview
from .models import (
    FieldMapping,
    PicklistMapping,
    PriorityMapping,
    ResyncRun,
    SalesforceConnection,
    StatusMapping,
    SyncSettings,
    TypeMapping,
    UserMapping,
)
from .permissions import is_sync_admin


class SyncAdminOnly:
    """Only superusers and the 'Sync admin' group see or change the sync configuration."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_sync_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_sync_admin(request.user)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_sync_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_sync_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_sync_admin(request.user)


class FieldMappingInline(SyncAdminOnly, admin.TabularInline):
    model = FieldMapping
    form = FieldMappingForm
    formset = FieldMappingFormSet
    fields = ["cockpit_field", "salesforce_field", "direction", "editable"]
    extra = 0
    verbose_name = "Task field mapping"
    verbose_name_plural = "Task field mappings (use “Add another” for + FIELD)"


class PicklistMappingInline(SyncAdminOnly, admin.TabularInline):
    form = PicklistMappingForm
    fields = ["cockpit_value", "salesforce_values"]
    extra = 0
    fk_name = "connection"


class StatusMappingInline(PicklistMappingInline):
    model = StatusMapping
    formset = StatusMappingFormSet
    verbose_name = "Status value"
    verbose_name_plural = "Status mapping (Cockpit status → Salesforce Status values)"


class PriorityMappingInline(PicklistMappingInline):
    model = PriorityMapping
    formset = PriorityMappingFormSet
    verbose_name = "Priority value"
    verbose_name_plural = "Priority mapping (Cockpit priority → Salesforce Priority values)"


class TypeMappingInline(PicklistMappingInline):
    model = TypeMapping
    formset = TypeMappingFormSet
    verbose_name = "Type value"
    verbose_name_plural = (
        "Type mapping (Cockpit task type → Salesforce Type values; a type without one is sent "
        "as no Type)"
    )


CONFIRM_RESYNC = "_confirm_resync"
# The preview's "No, go back": the same edits posted back to the form, shown and not saved.
EDIT_AGAIN = "_edit_again"


class ResyncNotConfirmed(Exception):
    """Raised out of the admin's save transaction, so nothing of the save stays, when a save
    that re-syncs has not been confirmed yet: the preview is shown instead."""

    def __init__(self, preview: ResyncPreview):
        super().__init__(preview.sentence())
        self.preview = preview


@admin.register(SalesforceConnection)
@method_decorator(sensitive_post_parameters("client_secret"), name="changeform_view")
class SalesforceConnectionAdmin(SyncAdminOnly, admin.ModelAdmin):
    form = ConnectionForm
    list_display = ["name", "is_primary", "login_url", "state", "last_checked_at"]
    list_filter = ["state", "is_primary"]
    search_fields = ["name", "login_url"]
    actions = ["test_connections", "match_users"]
    readonly_fields = [
        "api_usage_today",
        "state",
        "last_error",
        "last_checked_at",
        "describe_fetched_at",
        "resync_progress",
        "not_synced_values",
        "unmapped_cockpit_values",
        "unmatched_users",
    ]
    fieldsets = [
        (
            "Connection",
            {
                "fields": [
                    "name",
                    "is_primary",
                    "login_url",
                    "client_id",
                    "client_secret",
                    "api_version",
                    "ca_bundle",
                ]
            },
        ),
        (
            "State",
            {
                "fields": [
                    "state",
                    "last_error",
                    "last_checked_at",
                    "describe_fetched_at",
                    "api_usage_today",
                ]
            },
        ),
        (
            "Salesforce defaults and budget",
            {
                "fields": [
                    "default_status",
                    "default_priority",
                    "external_id_field",
                    "daily_api_budget",
                ]
            },
        ),
    ]
    mapping_fieldset = (
        "Mapping status",
        {
            "fields": [
                "resync_progress",
                "not_synced_values",
                "unmapped_cockpit_values",
                "unmatched_users",
            ]
        },
    )
    change_form_template = "admin/adminconfig/salesforceconnection/change_form.html"

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [self.fieldsets[0], self.fieldsets[2]]
        return [*self.fieldsets, self.mapping_fieldset]

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        # Mappings need the saved connection (and its describe for the field lists).
        return (
            []
            if obj is None
            else [
                FieldMappingInline,
                StatusMappingInline,
                PriorityMappingInline,
                TypeMappingInline,
            ]
        )

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if request.method != "POST" or EDIT_AGAIN not in request.POST:
            return form

        class EditAgain(form):  # type: ignore[valid-type]
            """Back from the save preview: the admin's edits bound, as posted, and never
            valid, so the admin shows the form with them instead of saving."""

            def is_valid(self) -> bool:
                return False

        return EditAgain

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        services.connection_save(
            connection=obj, client_secret=form.cleaned_data["client_secret"], resync=False
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        connection = form.instance
        # The admin's change message reads these; the services did the writing.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for item in formset.forms:
            if not item.has_changed() and item.instance.pk:
                continue
            data = item.cleaned_data
            if not data:
                continue
            if data.get("DELETE"):
                if item.instance.pk:
                    if formset.model is FieldMapping:
                        services.field_mapping_delete(mapping=item.instance, resync=False)
                    else:
                        services.picklist_mapping_delete(mapping=item.instance, resync=False)
                continue
            if formset.model is FieldMapping:
                services.field_mapping_save(
                    connection=connection,
                    cockpit_field=data["cockpit_field"],
                    salesforce_field=data["salesforce_field"],
                    direction=data["direction"],
                    editable=data["editable"],
                    mapping=item.instance if item.instance.pk else None,
                    resync=False,
                )
            else:
                services.picklist_mapping_save(
                    connection=connection,
                    picklist=formset.picklist,
                    cockpit_value=data["cockpit_value"],
                    salesforce_values=data["salesforce_values"],
                    mapping=item.instance if item.instance.pk else None,
                    resync=False,
                )

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        if request.method == "POST" and EDIT_AGAIN in request.POST:
            # The preview asks for a new secret again, and a page never shows one back.
            again = " (type the new client secret again)" if "client_secret" in request.POST else ""
            messages.info(
                request,
                f"Nothing was saved. Your changes are still in the form{again}: change what you "
                "need and save again.",
            )
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ResyncNotConfirmed as not_confirmed:
            # The save's transaction is rolled back: ask, and post the same form again.
            return self._resync_confirm(request, object_id, not_confirmed.preview)

    def _resync_confirm(
        self, request: HttpRequest, object_id: str | None, preview: ResyncPreview
    ) -> HttpResponse:
        connection = self.get_object(request, unquote(object_id or ""))
        posted = [
            (name, value)
            for name, values in request.POST.lists()
            # The secret is never written back into a page: it is asked for again.
            if name not in ("csrfmiddlewaretoken", CONFIRM_RESYNC, EDIT_AGAIN, "client_secret")
            for value in values
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Save and re-sync?",
            "opts": self.opts,
            "original": connection,
            "preview": preview,
            "posted": posted,
            "confirm_name": CONFIRM_RESYNC,
            "edit_again_name": EDIT_AGAIN,
            "secret_again": bool(request.POST.get("client_secret")),
        }
        return TemplateResponse(
            request, "admin/adminconfig/salesforceconnection/resync_confirm.html", context
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        defaults = change and bool({"default_status", "default_priority"} & set(form.changed_data))
        if any(formset.has_changed() for formset in formsets) or defaults:
            if CONFIRM_RESYNC not in request.POST:
                # Counted by the engine under the mapping just saved, inside this save's
                # transaction, which the exception then rolls back.
                preview = services.resync_preview(connection=form.instance)
                if preview.total:
                    raise ResyncNotConfirmed(preview)
            run = services.resync_start(connection=form.instance, reason="Mappings saved")
            if run.is_finished:
                self.message_user(request, "Tasks are now synced with the new mapping.")
            else:
                self.message_user(
                    request,
                    f"Re-syncing {run.total} synced tasks with the new mapping; the progress "
                    "shows on this page.",
                )

    @admin.display(description="API calls today")
    def api_usage_today(self, obj: SalesforceConnection) -> str:
        org = (
            f"the org has used {obj.api_usage:,} of {obj.api_limit:,}"
            if obj.api_limit
            else "the org's usage is not measured yet"
        )
        paused = (
            f"; pushing paused until {obj.push_paused_until:%Y-%m-%d %H:%M} UTC"
            if obj.push_paused_until
            else ""
        )
        spent = obj.cockpit_calls_on(timezone.now().astimezone(dt.UTC).date())
        return f"Cockpit made {spent:,} of its {obj.daily_api_budget:,}; {org}{paused}."

    @admin.display(description="Re-sync after mapping changes")
    def resync_progress(self, obj: SalesforceConnection) -> str:
        run = obj.resync_runs.first()
        if run is None:
            return "No mapping change yet."
        if run.is_finished and run.done + run.failed < run.total:
            # Stopped early (superseded, or stuck with nothing queued): Sync health says why.
            url = reverse("sync-health") + "#progress"
            return format_html(
                'The last re-sync stopped after {} of {} tasks: see <a href="{}">Sync health</a>.',
                f"{run.done + run.failed:,}",
                f"{run.total:,}",
                url,
            )
        if run.is_finished:
            failed = f" ({run.failed:,} failed: see sync errors)" if run.failed else ""
            return f"Tasks are now synced with the new mapping{failed}."
        return f"Re-syncing: {run.done:,} of {run.total:,} tasks done…"

    @admin.display(description="Salesforce values that will not sync")
    def not_synced_values(self, obj: SalesforceConnection) -> str:
        if not obj.task_describe:
            return "Unknown until the connection is tested."
        lines = []
        for picklist in PicklistMapping.Picklist:
            rows = [
                (m.cockpit_value, m.salesforce_values)
                for m in obj.picklist_mappings.filter(picklist=picklist)
            ]
            values = services.connection_salesforce_picklist(connection=obj, picklist=picklist)
            skipped = unmapped_salesforce_values(rows=rows, salesforce_values=values or [])
            lines.append((picklist.label, ", ".join(skipped) or "none (every value syncs)"))
        return format_html_join("", "<div><strong>{}</strong>: {}</div>", lines)

    @admin.display(description="Cockpit values without a mapping")
    def unmapped_cockpit_values(self, obj: SalesforceConnection) -> str:
        lines = [
            (
                picklist.label,
                ", ".join(values),
                f"(pushed to Salesforce as the default {picklist.label}, “{default}”)"
                if default
                else f"(pushed to Salesforce as no {picklist.label})",
            )
            if values
            else (picklist.label, "none (every value has a mapping)", "")
            for picklist, values, default in services.connection_unmapped_cockpit_values(
                connection=obj
            )
        ]
        return format_html_join("", "<div><strong>{}</strong>: {} {}</div>", lines)

    @admin.display(description="CSMs without a Salesforce user")
    def unmatched_users(self, obj: SalesforceConnection) -> str:
        users = services.users_unmatched()
        if not users:
            return "Every active CSM has a Salesforce user."
        url = reverse("admin:adminconfig_usermapping_changelist")
        names = ", ".join(u.get_username() for u in users)
        return format_html('{} (<a href="{}">user mapping</a>)', names, url)

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<int:pk>/test/",
                self.admin_site.admin_view(self.test_view),
                name="adminconfig_salesforceconnection_test",
            ),
            path(
                "<int:pk>/match-users/",
                self.admin_site.admin_view(self.match_users_view),
                name="adminconfig_salesforceconnection_match_users",
            ),
        ]
        return custom + super().get_urls()

    def _report(self, request: HttpRequest, connection: SalesforceConnection) -> None:
        report = services.connection_test(connection=connection)
        level = messages.SUCCESS if report.ok else messages.ERROR
        prefix = "" if report.ok else "Connection failed: "
        self.message_user(request, f"{connection.name}: {prefix}{report.message}", level)

    def _post_only(self, request: HttpRequest, pk: int) -> SalesforceConnection | HttpResponse:
        if request.method != "POST" or not is_sync_admin(request.user):
            return HttpResponse(status=405 if request.method != "POST" else 403)
        return get_object_or_404(SalesforceConnection, pk=pk)

    def test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = self._post_only(request, pk)
        if isinstance(connection, HttpResponse):
            return connection
        self._report(request, connection)
        return HttpResponseRedirect(
            reverse("admin:adminconfig_salesforceconnection_change", args=[pk])
        )

    def match_users_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = self._post_only(request, pk)
        if isinstance(connection, HttpResponse):
            return connection
        self._match(request, connection)
        return HttpResponseRedirect(
            reverse("admin:adminconfig_salesforceconnection_change", args=[pk])
        )

    def _match(self, request: HttpRequest, connection: SalesforceConnection) -> None:
        try:
            result = services.users_match_by_email(connection=connection)
        except GatewayError as exc:
            self.message_user(request, f"Matching users failed: {exc}", messages.ERROR)
            return
        matched = ", ".join(result.matched) or "nobody new"
        self.message_user(request, f"Matched by email: {matched}.")
        if result.unmatched:
            self.message_user(
                request,
                "No Salesforce user with the same email: " + ", ".join(result.unmatched),
                messages.WARNING,
            )

    @admin.action(description="Test connection (log in, read limits and the Task describe)")
    def test_connections(self, request: HttpRequest, queryset: Any) -> None:
        for connection in queryset:
            self._report(request, connection)

    @admin.action(description="Match users by email")
    def match_users(self, request: HttpRequest, queryset: Any) -> None:
        for connection in queryset:
            self._match(request, connection)


def switches_message(*, before: SyncSettings | None, after: SyncSettings) -> str:
    """What switching says it did. The first import is a pull, so it happens only with
    Bi-directional Sync on: Auto Sync alone pushes and imports nothing (issue 10)."""
    first_push = after.auto_sync and (before is None or before.first_enabled_at is None)
    pulling_now = after.bidirectional_sync and not (before and before.bidirectional_sync)
    hours = after.initial_import_hours
    if first_push and after.bidirectional_sync:
        return (
            f"Sync is on. Salesforce tasks of the last {hours} hours are being imported "
            "(watch it on Sync health); Cockpit tasks created from now on are pushed to "
            "Salesforce."
        )
    if first_push:
        return (
            "Sync is on: Cockpit tasks created from now on are pushed to Salesforce. Nothing "
            "is imported from Salesforce yet: switch on Bi-directional Sync too, and the tasks "
            f"of the last {hours} hours are imported then."
        )
    if pulling_now:
        return (
            "Bi-directional Sync is on: Salesforce changes are pulled into Cockpit; the first "
            f"pull imports the Salesforce tasks of the last {hours} hours (watch it on Sync "
            "health)."
        )
    return ""


@admin.register(SyncSettings)
class SyncSettingsAdmin(SyncAdminOnly, admin.ModelAdmin):
    form = SyncSettingsForm
    readonly_fields = ["first_enabled_at", "updated_at"]
    fieldsets = [
        ("Switches", {"fields": ["auto_sync", "bidirectional_sync", "first_enabled_at"]}),
        ("Conflicts", {"fields": ["conflict_policy"]}),
        (
            "Timing",
            {"fields": ["pull_interval_seconds", "initial_import_hours", "deletion_window_days"]},
        ),
    ]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # One row: the list is the form (whose view checks the permission; so does this).
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        settings = services.sync_settings_get()
        return HttpResponseRedirect(
            reverse("admin:adminconfig_syncsettings_change", args=[settings.pk])
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = SyncSettings.objects.filter(pk=obj.pk).first()
        updated = services.sync_settings_update(**form.cleaned_data)
        obj.first_enabled_at = updated.first_enabled_at
        message = switches_message(before=before, after=updated)
        if message:
            self.message_user(request, message)


@admin.register(UserMapping)
class UserMappingAdmin(SyncAdminOnly, admin.ModelAdmin):
    list_display = ["user", "user_email", "salesforce_user_id", "source", "updated_at"]
    list_filter = ["source"]
    search_fields = ["user__username", "user__email", "salesforce_user_id"]
    raw_id_fields = ["user"]
    change_list_template = "admin/adminconfig/usermapping/change_list.html"

    @admin.display(description="Email")
    def user_email(self, obj: UserMapping) -> str:
        return obj.user.email

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("user")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        services.user_mapping_set(
            user=obj.user,
            salesforce_user_id=obj.salesforce_user_id,
            source=UserMapping.Source.MANUAL,
        )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra = {
            "unmatched_users": services.users_unmatched(),
            "primary": services.connection_primary(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=extra)


@admin.register(ResyncRun)
class ResyncRunAdmin(SyncAdminOnly, admin.ModelAdmin):
    list_display = ["started_at", "connection", "reason", "done", "total", "failed", "finished_at"]
    list_filter = ["connection"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# ---- accounts ----------------------------------------------------------------------------

User = get_user_model()


class TokenRevokingPasswordForm(AdminPasswordChangeForm):
    """Setting someone's password also ends their API tokens, as it ends their sessions."""

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit)
        services.user_tokens_revoke(user=user)
        return user


admin.site.unregister(User)


@admin.register(User)
class AccountAdmin(UserAdmin):
    """Django's user admin under the rule of `adminconfig.services.user_change_check`:
    staff who are not superusers see staff accounts read-only, cannot grant staff status,
    groups or permissions, and cannot set other people's passwords."""

    change_password_form = TokenRevokingPasswordForm

    def _allowed(self, request: HttpRequest, obj: Any, changes: dict[str, Any]) -> bool:
        try:
            services.user_change_check(by=request.user, user=obj, changes=changes)
        except PermissionDenied:
            return False
        return True

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and (
            obj is None or self._allowed(request, obj, {})
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and (
            obj is None or self._allowed(request, obj, {"delete": True})
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [f for f in services.PRIVILEGE_FIELDS if f not in fields]
        if obj is not None and obj.pk == request.user.pk:
            fields += [f for f in ("is_active", "is_staff", "is_superuser") if f not in fields]
        return fields

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        original = User.objects.get(pk=obj.pk) if change else None
        changes = {name: form.cleaned_data.get(name) for name in form.changed_data}
        if not change:
            changes["is_staff"] = obj.is_staff
        services.user_change_check(by=request.user, user=original, changes=changes)
        super().save_model(request, obj, form, change)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.user_change_check(by=request.user, user=obj, changes={"delete": True})
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        # The bulk action checks the model permission only, not each account.
        for user in queryset:
            services.user_change_check(by=request.user, user=user, changes={"delete": True})
        super().delete_queryset(request, queryset)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        user = self.get_object(request, unquote(id))
        if user is not None and user.pk == request.user.pk:
            return redirect("admin:password_change")  # the form that asks for the current one
        if user is not None and not self._allowed(request, user, {"password": True}):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)


admin.site.unregister(TokenProxy)


def _token_title(token: TokenProxy) -> str:
    return f"API token of {token.user}"


# DRF's Token names itself by its key, and the admin prints an object's name in the change
# page's title, heading and breadcrumb, the delete confirmation, its message and the admin
# log (LogEntry.object_repr). The proxy exists only for this admin: name it by its owner.
TokenProxy.__str__ = _token_title  # type: ignore[method-assign,assignment]


@admin.register(TokenProxy)
class ApiTokenAdmin(TokenAdmin):
    """API tokens: superusers see who has one and revoke it; nobody sees a key again."""

    list_display = ("user", "created")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser
