"""Forms of the cockpit pages. They parse what a browser sends; the task services do the writes
and have the last word on validation (their errors are put back on the fields here)."""

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Q
from django.http import QueryDict

from cockpit.page_rows import page_table
from sync.models import SyncEvent
from tasks.field_kinds import DateInput
from tasks.models import (
    DETAILS_MAX_LENGTH,
    NAME_MAX_LENGTH,
    Company,
    CustomField,
    Priority,
    Status,
    Task,
    TaskType,
)

# Custom fields live in the same form as the task's own fields; the prefix keeps an admin's
# custom field key (say "name" or "status") from shadowing a real field.
CUSTOM_PREFIX = "cf_"

VIEW_CHOICES = [
    ("today", "Today & tomorrow"),
    ("week", "Next 7 days"),
    ("open", "All open"),
    ("upcoming", "Upcoming"),
    ("completed", "Completed"),
]

# The list's sortable columns: what the header says, and the order each one sorts by.
SORT_COLUMNS = {
    "name": "Task",
    "company": "Company",
    "type": "Type",
    "status": "Status",
    "priority": "Priority",
    "due": "Due",
}
PAGE_SIZES = (25, 50, 100, 200)

NOT_SEEN = object()  # a field whose shown value the page did not post back


class SearchInput(forms.TextInput):
    input_type = "search"


class IdsField(forms.Field):
    """Task ids, repeated (`task=1&task=2`) or comma-separated (`ids=1,2`); at most 200."""

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        raw = value if isinstance(value, list) else [value]
        parts = [p for item in raw for p in str(item).split(",") if p.strip()]
        if len(parts) > 200:
            raise ValidationError("Too many tasks at once.")
        try:
            return [int(p) for p in parts]
        except ValueError:
            raise ValidationError("Not task ids.") from None


class BulkForm(forms.Form):
    """The list's bulk actions on the checked rows."""

    ACTIONS = [("complete", "Complete"), ("sync", "Sync to Salesforce"), ("delete", "Delete")]

    task = IdsField(widget=forms.MultipleHiddenInput)
    action = forms.ChoiceField(choices=ACTIONS)
    confirmed = forms.BooleanField(required=False)

    def clean_task(self) -> list[int]:
        ids = self.cleaned_data["task"]
        if not ids:
            raise ValidationError("Select one or more tasks.")
        return ids


class RowsForm(forms.Form):
    """What a polling list asks for: its rows' ids, the version it shows, the checked ones."""

    ids = IdsField()
    v = forms.CharField(required=False, max_length=64)
    task = IdsField(required=False, widget=forms.MultipleHiddenInput)

    def clean_ids(self) -> list[int]:
        ids = self.cleaned_data["ids"]
        if not ids:
            raise ValidationError("No rows.")
        return ids


class NewsForm(forms.Form):
    """What the list's news poll sends: the ids the page shows and the last answer's version."""

    ids = IdsField(required=False)
    v = forms.CharField(required=False, max_length=64)


class _PageTableChoices(forms.models.ModelChoiceIterator):
    """The choices from the page's read of the table (cockpit.page_rows.page_table: statuses
    and priorities come with the mapping's tables), not a query of their own each."""

    field: "PageTableChoiceField"

    def _rows(self) -> Iterable[Any]:
        rows = page_table(self.field.table)
        return rows if rows is not None else self.queryset.iterator()

    def __iter__(self) -> Any:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for row in self._rows():
            yield self.choice(row)

    def __len__(self) -> int:
        return len(list(self._rows())) + (self.field.empty_label is not None)

    def __bool__(self) -> bool:
        return self.field.empty_label is not None or bool(len(self))


class PageTableChoiceField(forms.ModelChoiceField):
    """A choice of a status or priority: a bookmark's value is still checked against the table
    (a query only when the list is filtered by it)."""

    iterator = _PageTableChoices

    def __init__(self, table: str, **kwargs: Any) -> None:
        self.table = table
        super().__init__(**kwargs)


class TaskFilterForm(forms.Form):
    """The list's query string. A bad value is dropped, not an error page: it is a bookmark."""

    view = forms.ChoiceField(choices=VIEW_CHOICES, required=False, widget=forms.HiddenInput)
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search",
        widget=SearchInput(attrs={"placeholder": "Name, details or company"}),
    )
    status = PageTableChoiceField(
        "statuses",
        queryset=Status.objects.all(),
        to_field_name="value",
        required=False,
        empty_label="Any",
    )
    priority = PageTableChoiceField(
        "priorities",
        queryset=Priority.objects.all(),
        to_field_name="value",
        required=False,
        empty_label="Any",
    )

    sort = forms.ChoiceField(
        choices=[(k, k) for key in SORT_COLUMNS for k in (key, f"-{key}")],
        required=False,
        widget=forms.HiddenInput,
    )
    size = forms.TypedChoiceField(
        choices=[(n, str(n)) for n in PAGE_SIZES],
        coerce=int,
        required=False,
        label="Per page",
    )

    def values(self) -> dict[str, Any]:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "view": data.get("view") or "today",
            "text": data.get("q") or "",
            "status": data.get("status"),
            "priority": data.get("priority"),
            "sort": data.get("sort") or "",
            "size": data.get("size") or PAGE_SIZES[0],
        }


def _custom_form_field(field: CustomField) -> forms.Field:
    return field.kind.form_field(
        label=field.label, required=field.required, max_length=field.max_length
    )


def _custom_initial(field: CustomField, value: Any) -> Any:
    """A stored JSON value as the form field wants it."""
    return None if value is None else field.kind.form_initial(value)


def _custom_value(field: CustomField, value: Any) -> Any:
    """A cleaned form value as the JSON the task services validate and store."""
    if value is None or value == "":
        return None
    return field.kind.from_form(value)


class TaskForm(forms.Form):
    required_css_class = "required"

    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    status = forms.ModelChoiceField(queryset=Status.objects.none(), empty_label=None)
    priority = forms.ModelChoiceField(queryset=Priority.objects.none(), empty_label=None)
    # A due date is a date: no time zone touches it on the way in or out (Salesforce's
    # ActivityDate has none either).
    due_date = forms.DateField(required=False, widget=DateInput, label="Due date")
    details = forms.CharField(
        required=False,
        max_length=DETAILS_MAX_LENGTH,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    company = forms.ModelChoiceField(
        queryset=Company.objects.all(), required=False, empty_label="No company"
    )
    type = forms.ModelChoiceField(
        queryset=TaskType.objects.none(), required=False, empty_label="No type"
    )

    def __init__(
        self,
        *args: Any,
        custom_fields: Iterable[CustomField],
        task: Task | None = None,
        locked: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        self.task = task
        self.custom_fields = list(custom_fields)
        kwargs.setdefault("initial", self._initial(task))
        super().__init__(*args, **kwargs)
        # Inactive picklist values are not offered, except the one the task already has:
        # editing the name must not force a new status on it.
        picklists: dict[str, tuple[type[Status | Priority | TaskType], int | None]] = {
            "status": (Status, task.status_id if task else None),
            "priority": (Priority, task.priority_id if task else None),
            "type": (TaskType, task.type_id if task else None),
        }
        for name, (model, current) in picklists.items():
            choice = self.fields[name]
            assert isinstance(choice, forms.ModelChoiceField)
            choice.queryset = model.objects.filter(Q(is_active=True) | Q(pk=current))
        for field in self.custom_fields:
            self.fields[CUSTOM_PREFIX + field.key] = _custom_form_field(field)
        # Fields an admin mapped as not editable: Salesforce owns them while the task is
        # synced. A disabled field keeps its stored value whatever is posted.
        for name in locked:
            form_name = (
                CUSTOM_PREFIX + name.removeprefix("custom:") if name.startswith("custom:") else name
            )
            if form_name in self.fields:
                self.fields[form_name].disabled = True
                self.fields[form_name].help_text = "Synced from Salesforce: change it there."
        if task is not None:
            # The page posts back what it showed beside what was typed, so a save changes
            # only what the CSM changed, and a field changed meanwhile (a pull from
            # Salesforce, another tab) is refused instead of overwritten unseen (issue 16).
            for form_field in self.fields.values():
                form_field.show_hidden_initial = True

    def _initial(self, task: Task | None) -> dict[str, Any]:
        if task is None:
            return {
                "status": Status.objects.filter(is_default=True).first(),
                "priority": Priority.objects.filter(is_default=True).first(),
            }
        initial: dict[str, Any] = {
            "name": task.name,
            "status": task.status_id,
            "priority": task.priority_id,
            "due_date": task.due_date,
            "details": task.details,
            "company": task.company_id,
            "type": task.type_id,
        }
        for field in self.custom_fields:
            value = (task.custom_fields or {}).get(field.key)
            initial[CUSTOM_PREFIX + field.key] = _custom_initial(field, value)
        return initial

    def custom_bound_fields(self) -> list[forms.BoundField]:
        return [self[CUSTOM_PREFIX + field.key] for field in self.custom_fields]

    def _seen(self, name: str) -> Any:
        """What the page showed in this field, as posted back; NOT_SEEN when it was not (an
        older page, a script) or no longer reads."""
        bound = self[name]
        if bound.html_initial_name not in self.data:
            return NOT_SEEN
        hidden = bound.field.hidden_widget()
        raw = hidden.value_from_datadict(self.data, self.files, bound.html_initial_name)
        try:
            return bound.field.clean(raw)
        except ValidationError:
            return NOT_SEEN

    def _changed(self) -> set[str]:
        """The fields the user changed: against what the page showed them, or, when it did not
        post that back, against what is stored."""
        changed = set()
        for name, field in self.fields.items():
            bound = self[name]
            if field.disabled:
                continue
            if bound.html_initial_name in self.data:
                if name in self.changed_data:
                    changed.add(name)
            elif field.has_changed(bound.initial, bound.data):
                changed.add(name)
        return changed

    def changes(self) -> dict[str, Any]:
        """The cleaned input as keyword arguments of task_create / task_update: for a task
        being edited, only the fields the user changed."""
        every = self._every_change()
        if self.task is None:
            return every
        changed = self._changed()
        changes = {k: v for k, v in every.items() if k != "custom_fields" and k in changed}
        custom = {
            key: value
            for key, value in every["custom_fields"].items()
            if CUSTOM_PREFIX + key in changed
        }
        if custom:
            changes["custom_fields"] = custom
        return changes

    def seen(self) -> dict[str, Any]:
        """What the page showed of the fields the user changed: task_update's `expected`."""
        if self.task is None:
            return {}
        seen: dict[str, Any] = {}
        custom_by_name = {CUSTOM_PREFIX + field.key: field for field in self.custom_fields}
        for name in self._changed():
            value = self._seen(name)
            if value is NOT_SEEN:
                continue
            if name in custom_by_name:
                field = custom_by_name[name]
                seen.setdefault("custom_fields", {})[field.key] = _custom_value(field, value)
            else:
                seen[name] = value
        return seen

    def seen_reset(self, task: Task) -> None:
        """After a refusal, the fields in error count as having shown what is stored now, so
        saving again means "I have seen it, keep mine"."""
        initial = self._initial(task)
        data = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
        for name in self.errors:
            if name in self.fields and name in initial:
                field = self.fields[name]
                data[self[name].html_initial_name] = field.hidden_widget().format_value(
                    field.prepare_value(initial[name])
                )
        self.data = data

    def _every_change(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "status": data["status"],
            "priority": data["priority"],
            "due_date": data["due_date"],
            "details": data["details"],
            "company": data["company"],
            "type": data["type"],
            # Every active field is sent, empty ones as None: clearing a value removes it.
            "custom_fields": {
                field.key: _custom_value(field, data.get(CUSTOM_PREFIX + field.key))
                for field in self.custom_fields
            },
        }

    def add_service_error(self, exc: ValidationError) -> None:
        """Put a service's ValidationError on the fields it names (custom fields by key)."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc.messages)
            return
        custom_keys = {field.key for field in self.custom_fields}
        for key, messages in exc.message_dict.items():
            if key in custom_keys:
                target: str | None = CUSTOM_PREFIX + key
            elif key in self.fields and not key.startswith(CUSTOM_PREFIX):
                target = key
            else:
                target = None
            if key == NON_FIELD_ERRORS or target is None:
                label = "" if key in (NON_FIELD_ERRORS, "custom_fields") else f"{key}: "
                self.add_error(None, [f"{label}{message}" for message in messages])
            else:
                self.add_error(target, messages)


class _QueueFilters(forms.Form):
    """Filters of the sync health work queues. A bad value is said beside its field, and the
    list shows as if that filter were not set."""

    since = forms.DateField(
        required=False, label="From", widget=DateInput, help_text="Day, YYYY-MM-DD"
    )
    until = forms.DateField(
        required=False, label="To", widget=DateInput, help_text="Day, YYYY-MM-DD"
    )
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search",
        widget=SearchInput(attrs={"placeholder": "Task name or message"}),
    )

    def values(self) -> dict[str, Any]:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {name: data.get(name) for name in self.fields}


class FailedFilterForm(_QueueFilters):
    kind = forms.ChoiceField(required=False, label="Kind")
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label="Anyone",
        label="Owner",
    )
    field_order = ["kind", "owner", "since", "until", "q"]

    def __init__(self, *args: Any, kinds: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = self.fields["kind"]
        assert isinstance(kind, forms.ChoiceField)
        kind.choices = [("", "Any kind"), *kinds]


class LogFilterForm(_QueueFilters):
    kind = forms.ChoiceField(
        required=False, label="Kind", choices=[("", "Any kind"), *SyncEvent.Kind.choices]
    )
    field_order = ["kind", "since", "until", "q"]
