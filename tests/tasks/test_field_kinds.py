"""The field kinds: each defined once (tasks/field_kinds.py), and what a stored value of each
must look like, table-driven through the check every interface calls (custom_fields_clean)."""

import pytest
from django.core.exceptions import ValidationError

from tasks.custom_fields import custom_fields_clean
from tasks.field_kinds import FIELD_KINDS, FieldKind
from tasks.models import CustomField
from tests.factories import CustomFieldFactory

pytestmark = pytest.mark.django_db


def test_every_kind_an_admin_can_pick_is_one_registry_entry_and_every_entry_a_choice():
    choices = CustomField._meta.get_field("field_type").choices

    assert choices == [(kind.name, kind.label) for kind in FIELD_KINDS.values()]
    assert [kind.name for kind in FIELD_KINDS.values()] == list(FIELD_KINDS)
    assert len({kind.label for kind in FIELD_KINDS.values()}) == len(FIELD_KINDS)


@pytest.mark.parametrize("kind", list(FIELD_KINDS.values()), ids=list(FIELD_KINDS))
def test_every_kind_says_how_it_is_checked_shown_and_mapped(kind):
    # The base class leaves these to each kind: a kind that forgot one would fail at the
    # first task saved with it, not here.
    assert type(kind).clean is not FieldKind.clean
    assert type(kind).form_field is not FieldKind.form_field
    assert kind.form_field(label="x", required=False, max_length=10).label == "x"
    assert kind.salesforce_types


OK, REFUSED = "ok", "refused"


@pytest.mark.parametrize(
    ("kind", "value", "outcome", "expected"),
    [
        ("text", "Dana", OK, "Dana"),
        ("text", "x" * 21, REFUSED, "Ensure this value has at most 20 characters."),
        ("text", 5, REFUSED, "Enter text."),
        ("text", "a\x00b", REFUSED, "Null characters are not allowed."),
        ("number", 40, OK, 40),
        ("number", 2.5, OK, 2.5),
        ("number", True, REFUSED, "Enter a number."),
        ("number", "40", REFUSED, "Enter a number."),
        ("number", 10**18, REFUSED, "Enter a number of at most 18 digits."),
        ("date", "2027-01-15", OK, "2027-01-15"),
        ("date", "2027-02-30", REFUSED, "Enter a date as YYYY-MM-DD."),
        ("date", "15/01/2027", REFUSED, "Enter a date as YYYY-MM-DD."),
        # Salesforce's date fields hold 1700-01-01 to 4000-12-31, as for the due date.
        ("date", "1700-01-01", OK, "1700-01-01"),
        ("date", "1699-12-31", REFUSED, "Salesforce holds no other dates."),
        ("date", "4001-01-01", REFUSED, "Salesforce holds no other dates."),
        ("datetime", "4000-12-31T23:59:59+00:00", OK, "4000-12-31T23:59:59+00:00"),
        ("datetime", "4000-12-31T23:00:00-05:00", REFUSED, "Salesforce holds no other dates."),
        ("datetime", "0001-01-01T00:00:00+01:00", REFUSED, "Salesforce holds no other dates."),
        ("datetime", "2026-12-01T09:30:00+09:00", OK, "2026-12-01T00:30:00+00:00"),
        (
            "datetime",
            "2026-12-01T09:30:00",
            REFUSED,
            "Enter a date and time with a UTC offset, in ISO 8601.",
        ),
        ("boolean", False, OK, False),
        ("boolean", "false", REFUSED, "Enter true or false."),
        ("email", "dana@acme.example", OK, "dana@acme.example"),
        ("email", "dana", REFUSED, "Enter a valid email address."),
        ("email", "d" * 12 + "@acme.example", REFUSED, "at most 20 characters."),
        ("url", "https://acme.example", OK, "https://acme.example"),
        ("url", "acme", REFUSED, "Enter a valid URL."),
    ],
)
def test_a_custom_value_is_stored_only_in_its_kinds_form(kind, value, outcome, expected):
    CustomFieldFactory(key="extra", field_type=kind, max_length=20)

    if outcome == OK:
        assert custom_fields_clean({"extra": value}) == {"extra": expected}
    else:
        with pytest.raises(ValidationError) as exc:
            custom_fields_clean({"extra": value})
        assert exc.value.message_dict["extra"][0].endswith(expected)
