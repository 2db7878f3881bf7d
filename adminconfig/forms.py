"""Admin forms of the sync configuration. Rules live in services; forms only call them."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from . import services
from .fields import mappable_cockpit_fields
from .models import FieldMapping, PicklistMapping, SalesforceConnection, SyncSettings
from .services.connections import EDITABLE as CONNECTION_FIELDS

# Which picklist of the org each default draws from.
DEFAULT_PICKLISTS = {
    "default_status": PicklistMapping.Picklist.STATUS,
    "default_priority": PicklistMapping.Picklist.PRIORITY,
}


def _org_value_choices(values: list[str], current: str) -> list[tuple[str, str]]:
    choices = [(v, v) for v in values]
    if current and current not in values:
        # Kept so the page still saves; the service refuses choosing it anew.
        choices.append((current, f"{current} (not a value of the org)"))
    return choices


class ConnectionForm(forms.ModelForm):
    login_url = forms.URLField(
        assume_scheme="https",
        initial="https://login.salesforce.com",
        help_text=SalesforceConnection._meta.get_field("login_url").help_text,
    )
    client_secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Consumer secret of the connected app. Write-only: it is stored encrypted and "
        "never shown again; leave empty to keep the stored one.",
    )

    class Meta:
        model = SalesforceConnection
        fields = [CONNECTION_FIELDS[0], "is_primary", *CONNECTION_FIELDS[1:]]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Once Test connection has read the org's describe, the defaults are picked from the
        # org's own picklist values instead of typed (a typo fails every unmapped push).
        for name, picklist in DEFAULT_PICKLISTS.items():
            values = services.connection_salesforce_picklist(
                connection=self.instance, picklist=picklist
            )
            if not values or name not in self.fields:
                continue
            model_field = SalesforceConnection._meta.get_field(name)
            self.fields[name] = forms.ChoiceField(
                choices=_org_value_choices(values, getattr(self.instance, name)),
                label=self.fields[name].label,
                help_text=f"{model_field.help_text} The org's {picklist.label} values.",
            )

    def clean_client_secret(self) -> str:
        secret = self.cleaned_data.get("client_secret", "")
        if not secret and not (self.instance.pk and self.instance.has_secret):
            raise ValidationError("Enter the client secret of the connected app.")
        return secret

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if "login_url" in data and "client_id" in data and "client_secret" in data:
            services.connection_secret_check(
                connection_id=self.instance.pk,
                login_url=data["login_url"],
                client_id=data["client_id"],
                client_secret=data["client_secret"],
            )
        try:
            services.connection_ca_bundle_check(data.get("ca_bundle", ""))
        except ValidationError as exc:
            self.add_error(None, exc)
        return data

    def validate_constraints(self, exclude: Any = None) -> None:
        # Making this connection primary demotes the other one (in the service), so the
        # single-primary constraint is not a form error here. (The stubs type this method
        # without Django's `exclude`, which the model form passes.)
        exclude = set(exclude or ()) | {"is_primary"}
        super().validate_constraints(exclude=exclude)  # type: ignore[call-arg]

    def _post_clean(self) -> None:
        super()._post_clean()
        # The service's rule for the external id field and the defaults, on the form.
        try:
            services.connection_org_values_check(connection=self.instance)
        except ValidationError as exc:
            self.add_error(None, exc)


def _salesforce_field_choices(connection: SalesforceConnection | None) -> list[tuple[str, str]]:
    if connection is None or not connection.task_describe:
        return []
    choices = []
    for field in sorted(connection.task_describe.get("fields", []), key=lambda f: f["label"]):
        length = f", {field['length']}" if field.get("length") else ""
        read_only = "" if field.get("updateable") else ", read-only"
        choices.append(
            (
                field["name"],
                f"{field['label']} ({field['name']}: {field['type']}{length}{read_only})",
            )
        )
    return choices


class FieldMappingForm(forms.ModelForm):
    class Meta:
        model = FieldMapping
        fields = ["cockpit_field", "salesforce_field", "direction", "editable"]

    def __init__(self, *args: Any, connection: SalesforceConnection | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.connection = connection
        cockpit_choices = [
            (name, f"{f.label} ({f.kind})") for name, f in mappable_cockpit_fields().items()
        ]
        current = self.initial.get("cockpit_field") or self.instance.cockpit_field
        if current and current not in dict(cockpit_choices):
            cockpit_choices.append((current, current))
        self.fields["cockpit_field"] = forms.ChoiceField(
            choices=[("", "---------"), *cockpit_choices],
            help_text="Cockpit task field (custom fields included).",
        )
        sf_choices = _salesforce_field_choices(connection)
        if sf_choices:
            current_sf = self.initial.get("salesforce_field") or self.instance.salesforce_field
            if current_sf and current_sf not in dict(sf_choices):
                sf_choices.append((current_sf, f"{current_sf} (not in the org's describe)"))
            self.fields["salesforce_field"] = forms.ChoiceField(
                choices=[("", "---------"), *sf_choices],
                help_text="Salesforce Task field, with its type and length from the describe.",
            )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if (
            self.connection is None
            or not data.get("cockpit_field")
            or self.cleaned_data.get("DELETE")
        ):
            return data
        try:
            services.field_mapping_check(
                connection=self.connection,
                cockpit_field=data["cockpit_field"],
                salesforce_field=data.get("salesforce_field", ""),
                direction=data.get("direction", FieldMapping.Direction.BOTH),
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        return data


class FieldMappingFormSet(forms.BaseInlineFormSet):
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "connection": self._connection()}

    @property
    def empty_form(self) -> Any:  # the "+ FIELD" template row: a FieldMappingForm
        form_class: Any = self.form  # FieldMappingForm, which takes the connection
        form = form_class(
            auto_id=self.auto_id,
            prefix=self.add_prefix("__prefix__"),
            empty_permitted=True,
            use_required_attribute=False,
            connection=self._connection(),
            renderer=self.renderer,  # type: ignore[attr-defined]  # Django's; not in the stubs
        )
        self.add_fields(form, None)
        return form

    def _connection(self) -> SalesforceConnection | None:
        return self.instance if self.instance and self.instance.pk else None

    def clean(self) -> None:
        super().clean()
        forms_kept = [
            f
            for f in self.forms
            if f.cleaned_data
            and not f.cleaned_data.get("DELETE")
            and f.cleaned_data.get("cockpit_field")
            and f.cleaned_data.get("salesforce_field")
        ]
        rows = [
            (f.cleaned_data["cockpit_field"], f.cleaned_data["salesforce_field"])
            for f in forms_kept
        ]
        for index, field, message in services.field_mappings_check_unique(rows):
            forms_kept[index].add_error(field, message)

    def validate_unique(self) -> None:
        # Django's own check says "Please correct the duplicate data for cockpit_field";
        # clean() above refuses the same rows naming the field, so it is not run twice.
        return


class SalesforceValuesField(forms.CharField):
    """Salesforce values typed as 'Not Started, Waiting on someone else' (order matters)."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return value
        text = super().to_python(value)
        return [part.strip() for part in text.split(",") if part.strip()]


class OrgValuesInput(forms.TextInput):
    """A text input with a <datalist> of the org's picklist values (typed comma-separated,
    so a browser suggests one value at a time; the service refuses any other)."""

    def __init__(self, *args: Any, values: list[str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.values = values or []

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        if not self.values:
            return super().render(name, value, attrs, renderer)
        list_id = f"{(attrs or {}).get('id') or 'id_' + name}_org_values"
        html = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}"></option>', ((v,) for v in self.values))
        return format_html('{}<datalist id="{}">{}</datalist>', html, list_id, options)


PICKLIST_VALUES_HELP = (
    "Comma-separated, in order: the first is what Cockpit sends; every one maps back to this "
    "Cockpit value."
)


class PicklistMappingForm(forms.ModelForm):
    salesforce_values = SalesforceValuesField(help_text=PICKLIST_VALUES_HELP)

    class Meta:
        model = PicklistMapping
        fields = ["cockpit_value", "salesforce_values"]


class PicklistMappingFormSet(forms.BaseInlineFormSet):
    picklist: str = ""

    def add_fields(self, form: Any, index: int | None) -> None:
        super().add_fields(form, index)  # every form, the "Add another" template row too
        values = self._org_values()
        if values:
            field = form.fields["salesforce_values"]
            field.widget = OrgValuesInput(values=values)
            field.help_text = f"{PICKLIST_VALUES_HELP} The org's values: {', '.join(values)}."

    def _org_values(self) -> list[str] | None:
        if not (self.instance and self.instance.pk):
            return None
        if not hasattr(self, "_values"):
            self._values = services.connection_salesforce_picklist(
                connection=self.instance, picklist=self.picklist
            )
        return self._values

    def validate_unique(self) -> None:
        # clean() refuses a Cockpit value listed twice in words; Django's "Please correct
        # the duplicate data for cockpit_value" would only repeat it vaguely.
        return

    def get_queryset(self) -> Any:
        return super().get_queryset().filter(picklist=self.picklist)

    def save_new(self, form: forms.ModelForm, commit: bool = True) -> Any:
        form.instance.picklist = self.picklist
        return super().save_new(form, commit=commit)

    def clean(self) -> None:
        super().clean()
        if not (self.instance and self.instance.pk):
            return
        # A row whose own fields failed (Salesforce values emptied) already shows its error
        # and has nothing to check against the others; the rows and `kept` stay index-aligned.
        kept = [
            f
            for f in self.forms
            if f.cleaned_data
            and not f.cleaned_data.get("DELETE")
            and f.cleaned_data.get("cockpit_value")
            and "salesforce_values" in f.cleaned_data
        ]
        rows = [
            (f.cleaned_data["cockpit_value"], f.cleaned_data["salesforce_values"]) for f in kept
        ]
        for index, field, message in services.picklist_rows_check(
            connection=self.instance, picklist=self.picklist, rows=rows
        ):
            kept[index].add_error(field, message)


class StatusMappingFormSet(PicklistMappingFormSet):
    picklist = PicklistMapping.Picklist.STATUS

    @classmethod
    def get_default_prefix(cls) -> str:
        return "status_mappings"  # both picklists share one model: give each its own prefix


class PriorityMappingFormSet(PicklistMappingFormSet):
    picklist = PicklistMapping.Picklist.PRIORITY

    @classmethod
    def get_default_prefix(cls) -> str:
        return "priority_mappings"


class TypeMappingFormSet(PicklistMappingFormSet):
    picklist = PicklistMapping.Picklist.TYPE

    @classmethod
    def get_default_prefix(cls) -> str:
        return "type_mappings"


class SyncSettingsForm(forms.ModelForm):
    class Meta:
        model = SyncSettings
        fields = [
            "auto_sync",
            "bidirectional_sync",
            "conflict_policy",
            "pull_interval_seconds",
            "initial_import_hours",
            "deletion_window_days",
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        try:
            services.sync_settings_check(
                auto_sync=data.get("auto_sync", False),
                bidirectional_sync=data.get("bidirectional_sync", False),
                auto_sync_was=self.instance.auto_sync,
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field, messages)
        return data
