"""Writes of admin configuration: CSM accounts."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction

from tasks.models import UserProfile, time_zone_choices

User = get_user_model()


def _check_time_zone(time_zone: str) -> None:
    if time_zone and time_zone not in dict(time_zone_choices()):
        raise ValidationError({"time_zone": f"Unknown time zone '{time_zone}'."})


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
) -> AbstractUser:
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
def user_update(*, user: AbstractUser, **changes: Any) -> AbstractUser:
    time_zone = changes.pop("time_zone", None)
    password = changes.pop("password", None)
    for field in ("username", "email", "first_name", "last_name", "is_staff", "is_active"):
        if field in changes:
            setattr(user, field, changes[field])
    if password:
        user.set_password(password)
    user.save()
    if time_zone is not None:
        _check_time_zone(time_zone)
        profile, _ = UserProfile.objects.update_or_create(
            user=user, defaults={"time_zone": time_zone}
        )
        user.profile = profile  # refresh the cached reverse relation for the caller
    return user
