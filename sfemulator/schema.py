"""The sObjects the emulator knows: Task, User, Profile, Account and Contact, with Salesforce's
field types, lengths, picklists and flags. describe.py renders them in Salesforce's describe
shape; records.py enforces them on writes; the SOQL binder checks queries against them."""

from __future__ import annotations

from dataclasses import dataclass, field

from sfemulator.ids import KEY_PREFIXES

# Field types whose values are JSON strings and compare case-insensitively in SOQL.
TEXT_TYPES = frozenset(
    {"string", "textarea", "picklist", "combobox", "email", "phone", "url", "multipicklist"}
)
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"double", "int", "currency", "percent"})


@dataclass(frozen=True)
class PicklistValue:
    value: str
    default: bool = False
    # Task Status values say whether they close the task: IsClosed follows them.
    closed: bool = False
    active: bool = True


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    picklist: tuple[PicklistValue, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    calculated: bool = False
    precision: int = 0
    scale: int = 0
    name_field: bool = False
    id_lookup: bool = False
    default_value: bool | str | None = None
    extra_type_info: str | None = None

    @property
    def required(self) -> bool:
        """Must be given on create (REQUIRED_FIELD_MISSING otherwise)."""
        return (
            self.createable
            and not self.nillable
            and not self.defaulted_on_create
            and self.type != "boolean"
        )

    @property
    def filterable(self) -> bool:
        # Long text areas cannot be filtered or sorted in SOQL.
        return not (self.type == "textarea" and self.length > 255)

    def picklist_default(self) -> str | None:
        for entry in self.picklist:
            if entry.default:
                return entry.value
        return None

    def picklist_value(self, value: str) -> PicklistValue | None:
        for entry in self.picklist:
            if entry.value == value and entry.active:
                return entry
        return None


@dataclass(frozen=True)
class SObjectType:
    name: str
    label: str
    label_plural: str
    fields: tuple[Field, ...]
    custom: bool = False
    deletable: bool = True
    _by_lower: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for entry in self.fields:
            self._by_lower[entry.name.lower()] = entry

    @property
    def key_prefix(self) -> str:
        return KEY_PREFIXES[self.name]

    def field(self, name: str) -> Field | None:
        """Field names are case-insensitive in SOQL and in request bodies."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> Field | None:
        """The reference field whose relationship name is `name` (Owner -> OwnerId)."""
        lowered = name.lower()
        for entry in self.fields:
            if entry.relationship_name and entry.relationship_name.lower() == lowered:
                return entry
        return None

    def unique_fields(self) -> list[Field]:
        return [entry for entry in self.fields if entry.unique]


def _picklist(*values: str, default: str | None = None, closed: tuple[str, ...] = ()) -> tuple:
    return tuple(PicklistValue(v, default=v == default, closed=v in closed) for v in values)


def _reference(name: str, label: str, target: str, relationship: str, **kw: object) -> Field:
    return Field(
        name,
        label,
        "reference",
        length=18,
        reference_to=(target,),
        relationship_name=relationship,
        **kw,  # type: ignore[arg-type]
    )


def _system_fields() -> tuple[Field, ...]:
    read_only = {"createable": False, "updateable": False}
    return (
        Field(
            "Id",
            "Record ID",
            "id",
            length=18,
            nillable=False,
            defaulted_on_create=True,
            id_lookup=True,
            **read_only,
        ),  # type: ignore[arg-type]
        Field(
            "IsDeleted",
            "Deleted",
            "boolean",
            nillable=False,
            defaulted_on_create=True,
            default_value=False,
            **read_only,
        ),  # type: ignore[arg-type]
        Field(
            "CreatedDate",
            "Created Date",
            "datetime",
            nillable=False,
            defaulted_on_create=True,
            **read_only,
        ),  # type: ignore[arg-type]
        _reference(
            "CreatedById",
            "Created By ID",
            "User",
            "CreatedBy",
            nillable=False,
            defaulted_on_create=True,
            **read_only,
        ),
        Field(
            "LastModifiedDate",
            "Last Modified Date",
            "datetime",
            nillable=False,
            defaulted_on_create=True,
            **read_only,
        ),  # type: ignore[arg-type]
        _reference(
            "LastModifiedById",
            "Last Modified By ID",
            "User",
            "LastModifiedBy",
            nillable=False,
            defaulted_on_create=True,
            **read_only,
        ),
        Field(
            "SystemModstamp",
            "System Modstamp",
            "datetime",
            nillable=False,
            defaulted_on_create=True,
            **read_only,
        ),  # type: ignore[arg-type]
    )


def _owner() -> Field:
    return _reference(
        "OwnerId", "Assigned To ID", "User", "Owner", nillable=False, defaulted_on_create=True
    )


TASK_STATUSES = _picklist(
    "Not Started",
    "In Progress",
    "Completed",
    "Waiting on someone else",
    "Deferred",
    default="Not Started",
    closed=("Completed",),
)

TASK = SObjectType(
    "Task",
    "Task",
    "Tasks",
    fields=(
        *_system_fields()[:1],
        _reference("WhoId", "Name ID", "Contact", "Who"),
        _reference("WhatId", "Related To ID", "Account", "What"),
        # Subject is a combobox in Salesforce: suggested values, any text accepted.
        Field(
            "Subject",
            "Subject",
            "combobox",
            length=255,
            name_field=True,
            picklist=_picklist("Call", "Send Letter", "Send Quote", "Other"),
        ),
        Field("ActivityDate", "Due Date Only", "date"),
        Field(
            "Status",
            "Status",
            "picklist",
            length=255,
            nillable=False,
            defaulted_on_create=True,
            restricted=True,
            picklist=TASK_STATUSES,
        ),
        Field(
            "Priority",
            "Priority",
            "picklist",
            length=40,
            nillable=False,
            defaulted_on_create=True,
            restricted=True,
            picklist=_picklist("High", "Normal", "Low", default="Normal"),
        ),
        _owner(),
        Field(
            "Description", "Description", "textarea", length=32000, extra_type_info="plaintextarea"
        ),
        Field(
            "Type",
            "Type",
            "picklist",
            length=40,
            picklist=_picklist("Call", "Email", "Meeting", "Other"),
        ),
        Field(
            "IsClosed",
            "Closed",
            "boolean",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
            default_value=False,
        ),
        Field(
            "CompletedDateTime",
            "Completed Date/Time",
            "datetime",
            createable=False,
            updateable=False,
        ),
        *_system_fields()[1:],
        Field(
            "Cockpit_Task_Id__c",
            "Cockpit Task Id",
            "string",
            length=64,
            custom=True,
            external_id=True,
            unique=True,
            id_lookup=True,
        ),
        Field("Name__c", "Name", "string", length=80, custom=True),
        Field("Effort_Hours__c", "Effort Hours", "double", custom=True, precision=18, scale=2),
        Field(
            "Customer_Health__c",
            "Customer Health",
            "picklist",
            length=255,
            custom=True,
            picklist=_picklist("Green", "Yellow", "Red"),
        ),
        Field("Follow_Up_Date__c", "Follow-Up Date", "date", custom=True),
    ),
)


def _full_name() -> Field:
    """Name of a person record (User, Contact): Salesforce computes it from the parts."""
    return Field(
        "Name",
        "Full Name",
        "string",
        length=121,
        createable=False,
        updateable=False,
        name_field=True,
        nillable=False,
        defaulted_on_create=True,
    )


# A few of Salesforce's values each (its lists run to hundreds); restricted, as there.
USER_TIME_ZONES = _picklist(
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Phoenix",
    "America/Chicago",
    "America/New_York",
    "America/Toronto",
    "America/Sao_Paulo",
    "Atlantic/Reykjavik",
    "GMT",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Amsterdam",
    "Europe/Zurich",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Stockholm",
    "Europe/Helsinki",
    "Europe/Athens",
    "Europe/Istanbul",
    "Europe/Moscow",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)
USER_LOCALES = _picklist(
    "en_US", "en_GB", "en_CA", "en_AU", "en_IE", "de_DE", "de_CH", "fr_FR", "fr_CA", "es_ES",
    "it_IT", "nl_NL", "sv_SE", "fi_FI", "pt_BR", "ja_JP", "zh_CN",
)  # fmt: skip
USER_LANGUAGES = _picklist(
    "en_US", "en_GB", "de", "fr", "es", "it", "nl_NL", "sv", "fi", "pt_BR", "ja", "zh_CN",
)  # fmt: skip
USER_EMAIL_ENCODINGS = _picklist(
    "UTF-8", "ISO-8859-1", "Shift_JIS", "ISO-2022-JP", "EUC-JP", "ks_c_5601-1987", "Big5", "GB2312",
)  # fmt: skip


def _required_picklist(name: str, label: str, values: tuple) -> Field:
    return Field(
        name, label, "picklist", length=40, nillable=False, restricted=True, picklist=values
    )


PROFILE = SObjectType(
    "Profile",
    "Profile",
    "Profiles",
    deletable=False,
    fields=(
        *_system_fields()[:1],
        Field("Name", "Name", "string", length=255, nillable=False, name_field=True, unique=True),
        # UserLicense is not an object of the emulator: the seeded profiles carry an Id of the
        # right shape, and clients cannot set it.
        _reference(
            "UserLicenseId",
            "User License ID",
            "UserLicense",
            "UserLicense",
            createable=False,
            updateable=False,
        ),
        Field("Description", "Description", "string", length=255),
        *_system_fields()[1:],
    ),
)

# Field order follows Salesforce's REQUIRED_FIELD_MISSING message for a bare User: [Username,
# LastName, Email, Alias, TimeZoneSidKey, LocaleSidKey, EmailEncodingKey, ProfileId,
# LanguageLocaleKey].
USER = SObjectType(
    "User",
    "User",
    "Users",
    deletable=False,
    fields=(
        *_system_fields()[:1],
        Field(
            "Username", "Username", "string", length=80, nillable=False, unique=True, id_lookup=True
        ),
        Field("LastName", "Last Name", "string", length=80, nillable=False),
        Field("FirstName", "First Name", "string", length=40),
        _full_name(),
        Field("Email", "Email", "email", length=128, nillable=False),
        Field("Alias", "Alias", "string", length=8, nillable=False),
        _required_picklist("TimeZoneSidKey", "Time Zone", USER_TIME_ZONES),
        _required_picklist("LocaleSidKey", "Locale", USER_LOCALES),
        _required_picklist("EmailEncodingKey", "Email Encoding", USER_EMAIL_ENCODINGS),
        _reference("ProfileId", "Profile ID", "Profile", "Profile", nillable=False),
        _required_picklist("LanguageLocaleKey", "Language", USER_LANGUAGES),
        Field("Title", "Title", "string", length=80),
        Field("CompanyName", "Company Name", "string", length=80),
        Field(
            "IsActive",
            "Active",
            "boolean",
            nillable=False,
            defaulted_on_create=True,
            default_value=True,
        ),
        *_system_fields()[1:],
    ),
)

ACCOUNT = SObjectType(
    "Account",
    "Account",
    "Accounts",
    fields=(
        *_system_fields()[:1],
        Field("Name", "Account Name", "string", length=255, nillable=False, name_field=True),
        Field(
            "Type",
            "Account Type",
            "picklist",
            length=255,
            picklist=_picklist(
                "Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"
            ),
        ),
        Field(
            "Industry",
            "Industry",
            "picklist",
            length=255,
            picklist=_picklist(
                "Technology", "Manufacturing", "Healthcare", "Finance", "Retail", "Other"
            ),
        ),
        Field("Website", "Website", "url", length=255),
        Field("Phone", "Account Phone", "phone", length=40),
        _owner(),
        *_system_fields()[1:],
    ),
)

CONTACT = SObjectType(
    "Contact",
    "Contact",
    "Contacts",
    fields=(
        *_system_fields()[:1],
        _reference("AccountId", "Account ID", "Account", "Account"),
        Field("LastName", "Last Name", "string", length=80, nillable=False),
        Field("FirstName", "First Name", "string", length=40),
        _full_name(),
        Field("Email", "Email", "email", length=80),
        Field("Phone", "Business Phone", "phone", length=40),
        Field("Title", "Title", "string", length=128),
        _owner(),
        *_system_fields()[1:],
    ),
)

SOBJECTS: dict[str, SObjectType] = {s.name: s for s in (ACCOUNT, CONTACT, PROFILE, TASK, USER)}
_BY_LOWER = {name.lower(): sobject for name, sobject in SOBJECTS.items()}


def sobject_type(name: str) -> SObjectType | None:
    """sObject names are case-insensitive in URLs and SOQL."""
    return _BY_LOWER.get(name.lower())
