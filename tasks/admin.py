from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from . import hooks, services
from .custom_fields import custom_fields_clean
from .models import (
    Company,
    CustomField,
    Priority,
    Status,
    Task,
    TaskSyncRecord,
    TaskType,
    UserProfile,
)

EDITABLE_FIELDS = (
    "name",
    "status",
    "priority",
    "due_date",
    "details",
    "owner",
    "company",
    "type",
    "custom_fields",
)


@admin.register(Status)
class StatusAdmin(admin.ModelAdmin):
    list_display = ["value", "label", "order", "is_closed", "is_default", "is_active"]
    list_editable = ["order"]
    list_filter = ["is_closed", "is_active"]


@admin.register(Priority)
class PriorityAdmin(admin.ModelAdmin):
    list_display = ["value", "label", "order", "is_default", "is_active"]
    list_editable = ["order"]
    list_filter = ["is_active"]


@admin.register(TaskType)
class TaskTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active"]
    search_fields = ["name"]


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    list_display = ["key", "label", "field_type", "required", "is_active"]
    list_filter = ["field_type", "required", "is_active"]
    search_fields = ["key", "label"]


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "salesforce_account_id"]
    search_fields = ["name", "salesforce_account_id"]

    def save_model(self, request: HttpRequest, obj: Company, form: Any, change: bool) -> None:
        # Through the services: a changed Account queues the company's tasks' pushes.
        account = obj.salesforce_account_id
        if change:
            services.company_update(company=obj, name=obj.name, salesforce_account_id=account)
        else:
            obj.pk = services.company_create(name=obj.name, salesforce_account_id=account).pk


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "time_zone"]
    search_fields = ["user__username", "user__email"]


class TaskSyncRecordInline(admin.StackedInline):
    """The task's sync state, to read: the engine alone writes the record. Its agreements,
    uncertain-writes ledger and unseen windows are the engine's working memory, not settings;
    an edit here could make every push fail, so none is shown as a form field."""

    model = TaskSyncRecord
    can_delete = False
    extra = 0
    readonly_fields = (
        "salesforce_id",
        "state",
        "last_synced_at",
        "last_error",
        "gave_up_after",
        "desynced_at",
        "salesforce_seen_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TaskAdminForm(forms.ModelForm):
    """Runs the services' checks, so the admin refuses what the API and the pages refuse
    (custom field values, fields locked to Salesforce) on the form instead of failing."""

    class Meta:
        model = Task
        fields = list(EDITABLE_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # The page posts back what it showed, so "changed" means changed by the admin, not
            # by a pull that committed while the page was open: the save writes only those
            # fields, and a pulled change of another field survives (issue 16).
            for field in self.fields.values():
                field.show_hidden_initial = True
            # Fields an admin locked to Salesforce on a synced task: shown, not editable (the
            # save would refuse a change anyway, as the API and the pages do).
            for name in hooks.locked_fields(self.instance) & set(self.fields):
                self.fields[name].disabled = True
                self.fields[name].help_text = services.LOCKED_MESSAGE

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        try:
            custom = custom_fields_clean(
                data.get("custom_fields"),
                existing=self.instance.custom_fields if self.instance.pk else None,
            )
            if self.instance.pk:
                changes = {
                    f: data[f] for f in self.changed_data if f in EDITABLE_FIELDS and f in data
                }
                changes["custom_fields"] = custom
                services.task_locked_changes_check(task=self.instance, changes=changes)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                self.add_error(key if key in self.fields else "custom_fields", messages)
        return data


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    form = TaskAdminForm
    list_display = ["name", "owner", "status", "priority", "due_date", "company"]
    list_filter = ["status", "priority", "type", "owner"]
    search_fields = ["name", "details", "company__name"]
    date_hierarchy = "due_date"
    list_select_related = ["owner", "status", "priority", "company"]
    raw_id_fields = ["owner", "company"]
    readonly_fields = ["created_at", "updated_at", "completed_at"]
    inlines = [TaskSyncRecordInline]

    # Admin edits go through the services too, so completion times and sync stay right.
    def save_model(self, request: HttpRequest, obj: Task, form: Any, change: bool) -> None:
        fields = form.changed_data if change else list(form.cleaned_data)
        data = {f: form.cleaned_data[f] for f in fields if f in EDITABLE_FIELDS}
        if change:
            services.task_update(task=Task.objects.get(pk=obj.pk), **data)
        else:
            name, owner = data.pop("name"), data.pop("owner")
            obj.pk = services.task_create(owner=owner, name=name, **data).pk

    def delete_model(self, request: HttpRequest, obj: Task) -> None:
        services.task_delete(task=obj)
