"""Salesforce record Ids: 15 case-sensitive characters plus a 3-character case-safe suffix."""

from __future__ import annotations

import re

KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Task": "00T",
    "Profile": "00e",
    # Not an object of the emulator: only the shape of Profile.UserLicenseId.
    "UserLicense": "100",
}
ORG_PREFIX = "00D"
QUERY_LOCATOR_PREFIX = "01g"

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
# The two characters after the key prefix are the pod/instance in real Ids; mixed case on
# purpose so that the case-safe suffix is not trivially "AAA".
_POD = "Ws"
_ID_RE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def case_safe_suffix(id15: str) -> str:
    """The 3-character suffix: one bit per uppercase letter in each 5-character chunk."""
    suffix = ""
    for chunk_start in (0, 5, 10):
        bits = 0
        for position, char in enumerate(id15[chunk_start : chunk_start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def make_id(prefix: str, counter: int) -> str:
    """An 18-character Id with the given key prefix; `counter` makes it unique."""
    body = ""
    value = counter
    for _ in range(10):
        value, digit = divmod(value, 62)
        body = _BASE62[digit] + body
    id15 = prefix + _POD + body
    return id15 + case_safe_suffix(id15)


def normalize_id(value: object) -> str | None:
    """The 18-character form of a 15- or 18-character Id, or None when it is not Id-shaped.

    Salesforce accepts both lengths everywhere and always answers with 18 characters; the
    suffix of an 18-character Id is recomputed, as Salesforce only trusts the first 15.
    """
    if not isinstance(value, str) or not _ID_RE.match(value):
        return None
    id15 = value[:15]
    return id15 + case_safe_suffix(id15)


def prefix_type(record_id: str) -> str | None:
    """The sObject type whose key prefix starts `record_id`."""
    for sobject, prefix in KEY_PREFIXES.items():
        if record_id.startswith(prefix):
            return sobject
    return None
