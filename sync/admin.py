"""Where admins see what the sync did and retry what failed."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpRequest
from django.shortcuts import redirect
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from adminconfig.permissions import is_sync_admin
from tasks.admin import CompanyAdmin
from tasks.models import Company

from . import outbox
from .accounts import account_choices, account_resolve
from .enqueue import ACCOUNTS_REFRESH, job_send_on_commit
from .models import OutboxEntry, SalesforceAccount, SyncEvent


class ReadOnlyForSyncAdmins(admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_sync_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_sync_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutboxEntry)
class OutboxEntryAdmin(ReadOnlyForSyncAdmins):
    list_display = [
        "id",
        "task_id",
        "operation",
        "state",
        "attempts",
        "next_attempt_at",
        "error",
    ]
    list_filter = ["state", "operation", "error_kind"]
    search_fields = ["task_id", "salesforce_id", "last_error"]
    actions = ["retry"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not is_sync_admin(request.user):
            actions.pop("retry", None)
        return actions

    @admin.display(description="Error", ordering="error_kind")
    def error(self, entry: OutboxEntry) -> str:
        """The stored kind before the reason, in one column: two columns made the list wider
        than a 1,024-pixel window."""
        if not entry.last_error:
            return ""
        if not entry.error_kind or entry.last_error.startswith(entry.error_kind):
            return entry.last_error
        return f"{entry.error_kind}: {entry.last_error}"

    @admin.action(description="Retry the selected failed pushes")
    def retry(self, request: HttpRequest, queryset: Any) -> None:
        failed = list(queryset.filter(state=OutboxEntry.State.FAILED))
        for entry in failed:
            outbox.entry_retry(entry=entry)
        self.message_user(request, f"{len(failed)} failed push(es) queued again.")


@admin.register(SyncEvent)
class SyncEventAdmin(ReadOnlyForSyncAdmins):
    list_display = ["created_at", "kind", "task_id", "salesforce_id", "message"]
    list_filter = ["kind"]
    search_fields = ["message", "salesforce_id", "task_id"]
    date_hierarchy = "created_at"


# ---- companies and Salesforce Accounts -------------------------------------------------------


class AccountInput(forms.TextInput):
    """A text box that completes Account names from the Accounts Cockpit knows (a datalist:
    the browser's own autocomplete, no script)."""

    def render(
        self,
        name: str,
        value: Any,
        attrs: dict[str, Any] | None = None,
        renderer: Any = None,
    ) -> str:
        list_id = f"{(attrs or {}).get('id', name)}-accounts"
        shown = value
        if value and "(" not in str(value):
            known = SalesforceAccount.objects.filter(pk=value).first()
            shown = str(known) if known else value
        box = super().render(name, shown, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join(
            "", '<option value="{}"></option>', ((label,) for _, label in account_choices())
        )
        return mark_safe(f'{box}<datalist id="{list_id}">{options}</datalist>')  # noqa: S308 - parts escaped above


class CompanyAccountForm(forms.ModelForm):
    salesforce_account_id = forms.CharField(
        label="Salesforce Account",
        required=False,
        widget=AccountInput(attrs={"size": 50, "autocomplete": "off"}),
        help_text="Start typing the Account's name (the list comes from the org: Refresh "
        "Accounts under Salesforce Accounts), or paste its Id. Empty: no Account.",
    )

    class Meta:
        model = Company
        fields = ["name", "salesforce_account_id"]

    def clean_salesforce_account_id(self) -> str | None:
        return account_resolve(text=self.cleaned_data.get("salesforce_account_id"))


admin.site.unregister(Company)


@admin.register(Company)
class CompanyWithAccountAdmin(CompanyAdmin):
    """The company admin, with its Salesforce Account picked by name."""

    form = CompanyAccountForm
    list_display = ["name", "account"]

    @admin.display(description="Salesforce Account")
    def account(self, company: Company) -> str:
        if not company.salesforce_account_id:
            return "—"
        known = SalesforceAccount.objects.filter(pk=company.salesforce_account_id).first()
        return known.name if known else company.salesforce_account_id


@admin.register(SalesforceAccount)
class SalesforceAccountAdmin(ReadOnlyForSyncAdmins):
    list_display = ["name", "salesforce_id", "fetched_at"]
    search_fields = ["name", "salesforce_id"]
    actions = ["refresh"]

    @admin.action(description="Refresh Accounts from Salesforce (all of them)")
    def refresh(self, request: HttpRequest, queryset: Any) -> None:
        job_send_on_commit(ACCOUNTS_REFRESH)
        self.message_user(request, "Reading the org's Accounts; the list updates in a moment.")

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        # The action must run with no Account known yet: select-all is not needed for it.
        if (
            request.method == "POST"
            and request.POST.get("action") == "refresh"
            and not request.POST.getlist(ACTION_CHECKBOX_NAME)
            and is_sync_admin(request.user)
        ):
            self.refresh(request, self.get_queryset(request))
            return redirect(request.get_full_path())
        return super().changelist_view(request, extra_context)
