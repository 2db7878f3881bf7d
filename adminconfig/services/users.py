"""Writes of admin configuration: CSM accounts, and who may change which account.

The rule that keeps staff from taking over a superuser lives here once; the API and the
Django admin both call `user_change_check`:

- Only superusers create, change, deactivate or delete staff and superuser accounts, the
  accounts of sync admins (they decide where the org's data goes) and of anyone holding a
  Django permission the changer does not hold themselves; only superusers grant
  or remove staff or superuser status, change groups and permissions, and set other
  people's passwords.
- Anyone may change their own password by giving the current one; nobody, superusers
  included, deactivates, deletes or demotes their own account (another superuser does), so
  the last superuser cannot lock everyone out.
- `by=None` is the system itself (bootstrap, the demo data, management commands).
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tasks.models import UserProfile, time_zone_choices

from ..permissions import SYNC_ADMIN_GROUP

# Fields whose change grants or removes power over Cockpit.
PRIVILEGE_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")


def _check_time_zone(time_zone: str) -> None:
    if time_zone and time_zone not in dict(time_zone_choices()):
        raise ValidationError({"time_zone": f"Unknown time zone '{time_zone}'."})


def _is_beyond(by: User | AnonymousUser, user: User) -> bool:
    """Whether `user` holds power that `by` may not touch: staff or superuser status, the
    Sync admin group, or any permission `by` does not hold."""
    # Group membership, not is_sync_admin(): a deactivated sync admin that staff could
    # reactivate would be a sync admin again.
    if user.is_staff or user.is_superuser or user.groups.filter(name=SYNC_ADMIN_GROUP).exists():
        return True
    return not user.get_all_permissions() <= by.get_all_permissions()


def user_change_check(
    *, by: User | AnonymousUser | None, user: User | None, changes: Mapping[str, Any]
) -> None:
    """Raise PermissionDenied when `by` may not make `changes` to `user` (None: a new account).

    `changes` maps each field given to its new value; "password" stands for a new password,
    "delete" for deleting the account. A value equal to the stored one is no change.
    """
    if by is None:
        return
    is_self = user is not None and user.pk == by.pk

    def changed(field: str) -> bool:
        if field not in changes:
            return False
        if field in ("groups", "user_permissions", "delete"):
            return True
        current = getattr(user, field, False) if user is not None else False
        return bool(changes[field]) != bool(current)

    if is_self and any(changed(f) for f in ("is_active", "is_staff", "is_superuser", "delete")):
        raise PermissionDenied(
            "You cannot deactivate, delete or demote your own account: another superuser can."
        )
    if by.is_superuser:
        return
    if user is not None and not is_self and _is_beyond(by, user):
        raise PermissionDenied(
            "Only superusers change staff, superuser and sync admin accounts, and accounts "
            "with permissions you do not hold."
        )
    if changed("is_staff") or changed("is_superuser"):
        raise PermissionDenied("Only superusers grant or remove staff and superuser status.")
    if changed("groups") or changed("user_permissions"):
        raise PermissionDenied("Only superusers change groups and permissions.")
    if user is not None and not is_self and changes.get("password"):
        raise PermissionDenied("Only superusers set other people's passwords.")


def token_expires_at(token: Token) -> dt.datetime:
    return token.created + dt.timedelta(days=settings.API_TOKEN_LIFETIME_DAYS)


def token_expired(token: Token) -> bool:
    return timezone.now() >= token_expires_at(token)


@transaction.atomic
def user_token_issue(*, user: User) -> Token:
    """The user's API token: the current one, or a new one when it has expired."""
    token, created = Token.objects.select_for_update().get_or_create(user=user)
    if not created and token_expired(token):
        token.delete()
        token = Token.objects.create(user=user)
    return token


def user_tokens_revoke(*, user: User) -> int:
    """Revoke the user's API tokens (after a password change, or on request)."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    is_staff: bool = False,
    is_active: bool = True,
    time_zone: str = "",
    by: User | None = None,
) -> User:
    user_change_check(by=by, user=None, changes={"is_staff": is_staff})
    _check_time_zone(time_zone)
    user = User.objects.create_user(
        username=username,
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        is_staff=is_staff,
        is_active=is_active,
    )
    UserProfile.objects.create(user=user, time_zone=time_zone)
    return user


@transaction.atomic
def user_update(
    *,
    user: User,
    by: User | None = None,
    current_password: str | None = None,
    **changes: Any,
) -> User:
    """Change an account. Changing one's own password needs `current_password`.

    A new password revokes the account's API tokens (its sessions end by themselves: Django
    ties them to the password hash).
    """
    user_change_check(by=by, user=user, changes=changes)
    time_zone = changes.pop("time_zone", None)
    password = changes.pop("password", None)
    changing_own = bool(password) and by is not None and by.pk == user.pk
    if changing_own and not current_password:
        raise ValidationError({"current_password": "Enter your current password."})
    if changing_own and not user.check_password(current_password):
        raise ValidationError({"current_password": "Your current password is wrong."})
    for field in ("username", "email", "first_name", "last_name", "is_staff", "is_active"):
        if field in changes:
            setattr(user, field, changes[field])
    if password:
        user.set_password(password)
    user.save()
    if password:
        user_tokens_revoke(user=user)
    if time_zone is not None:
        _check_time_zone(time_zone)
        profile, _ = UserProfile.objects.update_or_create(
            user=user, defaults={"time_zone": time_zone}
        )
        user.profile = profile  # refresh the cached reverse relation for the caller
    return user


def user_password_change(*, user: User, current_password: str, new_password: str) -> User:
    """A user changes their own password, proving they know the current one."""
    return user_update(user=user, by=user, current_password=current_password, password=new_password)
