"""Writes of admin configuration; callers use `from adminconfig import services`."""

from .connections import (
    connection_create,
    connection_make_primary,
    connection_primary,
    connection_salesforce_picklist,
    connection_save,
    connection_secret_check,
    connection_test,
    connection_update,
)
from .mappings import (
    field_mapping_check,
    field_mapping_delete,
    field_mapping_save,
    field_mappings_check_unique,
    mappings_create_defaults,
    picklist_mapping_delete,
    picklist_mapping_save,
    picklist_rows_check,
    resync_start,
)
from .sync_settings import sync_settings_check, sync_settings_get, sync_settings_update
from .user_mappings import MatchResult, user_mapping_set, users_match_by_email, users_unmatched
from .users import (
    PRIVILEGE_FIELDS,
    user_change_check,
    user_create,
    user_password_change,
    user_tokens_revoke,
    user_update,
)

__all__ = [
    "PRIVILEGE_FIELDS",
    "MatchResult",
    "connection_create",
    "connection_make_primary",
    "connection_primary",
    "connection_salesforce_picklist",
    "connection_save",
    "connection_secret_check",
    "connection_test",
    "connection_update",
    "field_mapping_check",
    "field_mapping_delete",
    "field_mapping_save",
    "field_mappings_check_unique",
    "mappings_create_defaults",
    "picklist_mapping_delete",
    "picklist_mapping_save",
    "picklist_rows_check",
    "resync_start",
    "sync_settings_check",
    "sync_settings_get",
    "sync_settings_update",
    "user_change_check",
    "user_create",
    "user_mapping_set",
    "user_password_change",
    "user_tokens_revoke",
    "user_update",
    "users_match_by_email",
    "users_unmatched",
]
