"""Finding 1 of issue 9: staff who are not superusers cannot take over an account.

One rule (adminconfig.services.user_change_check) serves the API and the Django admin.
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.security.conftest import client_for

pytestmark = pytest.mark.django_db
User = get_user_model()
NEW_PASSWORD = "taken-over-42-Horse"
PASSWORD = "correct-horse-battery"  # the factories' password


def can_log_in(username: str, password: str) -> bool:
    response = APIClient().post("/api/v1/auth/token/", {"username": username, "password": password})
    return response.status_code == 200


def test_staff_cannot_set_a_superusers_password(staff, superuser):
    response = client_for(staff).patch(
        f"/api/v1/users/{superuser.pk}/", {"password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 403
    assert not can_log_in("root", NEW_PASSWORD)
    assert can_log_in("root", PASSWORD)


@pytest.mark.parametrize(
    "change",
    [
        {"is_active": False},
        {"is_staff": False},
        {"email": "mine@example.com"},
        {"username": "renamed"},
    ],
)
def test_staff_cannot_change_or_deactivate_superusers_or_other_staff(staff, superuser, change):
    other_staff = UserFactory(username="otto", is_staff=True)
    client = client_for(staff)

    for target in (superuser, other_staff):
        response = client.patch(f"/api/v1/users/{target.pk}/", change, format="json")
        assert response.status_code == 403, (target.username, response.json())
        fresh = User.objects.get(pk=target.pk)
        assert (fresh.username, fresh.email, fresh.is_active, fresh.is_staff) == (
            target.username,
            target.email,
            True,
            True,
        )


@pytest.fixture
def group_sync_admin(db):
    """A member of the Sync admin group who is not staff: configures the sync through the API."""
    user = UserFactory(username="sandy")
    user.groups.add(Group.objects.get(name="Sync admin"))
    return user


@pytest.mark.parametrize(
    "change",
    [{"is_active": False}, {"email": "mine@example.com"}, {"first_name": "Mallory"}],
)
def test_staff_cannot_change_or_deactivate_a_sync_admins_account(staff, group_sync_admin, change):
    response = client_for(staff).patch(
        f"/api/v1/users/{group_sync_admin.pk}/", change, format="json"
    )

    assert response.status_code == 403
    fresh = User.objects.get(pk=group_sync_admin.pk)
    assert (fresh.is_active, fresh.email, fresh.first_name) == (
        True,
        group_sync_admin.email,
        group_sync_admin.first_name,
    )


def test_staff_cannot_reactivate_a_deactivated_sync_admin(staff, group_sync_admin):
    User.objects.filter(pk=group_sync_admin.pk).update(is_active=False)

    response = client_for(staff).patch(
        f"/api/v1/users/{group_sync_admin.pk}/", {"is_active": True}, format="json"
    )

    assert response.status_code == 403
    assert not User.objects.get(pk=group_sync_admin.pk).is_active


def test_staff_cannot_change_an_account_holding_a_permission_they_lack(staff, csm):
    csm.user_permissions.add(Permission.objects.get(codename="change_syncsettings"))

    response = client_for(staff).patch(
        f"/api/v1/users/{csm.pk}/", {"email": "mine@example.com"}, format="json"
    )

    assert response.status_code == 403
    assert User.objects.get(pk=csm.pk).email != "mine@example.com"


def test_a_superuser_changes_a_sync_admins_account(superuser, group_sync_admin):
    response = client_for(superuser).patch(
        f"/api/v1/users/{group_sync_admin.pk}/", {"is_active": False}, format="json"
    )

    assert response.status_code == 200
    assert not User.objects.get(pk=group_sync_admin.pk).is_active


def test_in_the_admin_staff_cannot_change_a_sync_admin(user_manager, group_sync_admin, client):
    client.force_login(user_manager)

    response = client.post(
        f"/admin/auth/user/{group_sync_admin.pk}/change/",
        {"username": "sandy", "email": "x@example.com", "is_active": ""},
    )

    assert response.status_code == 403
    assert User.objects.get(pk=group_sync_admin.pk).is_active


def test_staff_cannot_make_anyone_staff(staff, csm):
    client = client_for(staff)

    promoted = client.patch(f"/api/v1/users/{csm.pk}/", {"is_staff": True}, format="json")
    created = client.post(
        "/api/v1/users/",
        {
            "username": "mallory",
            "email": "m@example.com",
            "password": "a-long-enough-secret",
            "is_staff": True,
        },
        format="json",
    )

    assert (promoted.status_code, created.status_code) == (403, 403)
    assert not User.objects.get(pk=csm.pk).is_staff
    assert not User.objects.filter(username="mallory").exists()


def test_staff_cannot_set_a_csms_password(staff, csm):
    response = client_for(staff).patch(
        f"/api/v1/users/{csm.pk}/", {"password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 403
    assert can_log_in("alice", PASSWORD)


def test_staff_still_create_csms_and_change_their_details(staff, csm):
    client = client_for(staff)

    created = client.post(
        "/api/v1/users/",
        {"username": "dana", "email": "d@example.com", "password": "a-long-enough-secret"},
        format="json",
    )
    changed = client.patch(
        f"/api/v1/users/{csm.pk}/",
        {"time_zone": "Europe/Paris", "is_active": False, "is_staff": False},
        format="json",
    )

    assert created.status_code == 201, created.json()
    assert changed.status_code == 200, changed.json()
    assert changed.json()["is_active"] is False


def test_a_superuser_changes_staff_accounts_and_passwords(superuser, staff):
    response = client_for(superuser).patch(
        f"/api/v1/users/{staff.pk}/",
        {"password": NEW_PASSWORD, "is_staff": False},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert can_log_in("stella", NEW_PASSWORD)
    assert not User.objects.get(pk=staff.pk).is_staff


def test_a_new_password_revokes_the_accounts_tokens(superuser, csm):
    old = Token.objects.create(user=csm)

    client_for(superuser).patch(
        f"/api/v1/users/{csm.pk}/", {"password": NEW_PASSWORD}, format="json"
    )

    assert not Token.objects.filter(key=old.key).exists()


def test_changing_your_own_password_needs_the_current_one(staff):
    client = client_for(staff)
    url = f"/api/v1/users/{staff.pk}/"

    missing = client.patch(url, {"password": NEW_PASSWORD}, format="json")
    wrong = client.patch(url, {"password": NEW_PASSWORD, "current_password": "nope"}, format="json")
    right = client.patch(
        url, {"password": NEW_PASSWORD, "current_password": PASSWORD}, format="json"
    )

    assert (missing.status_code, wrong.status_code) == (400, 400)
    assert missing.json()["current_password"] == ["Enter your current password."]
    assert wrong.json()["current_password"] == ["Your current password is wrong."]
    assert right.status_code == 200
    assert can_log_in("stella", NEW_PASSWORD)


def test_staff_cannot_unstaff_or_deactivate_themselves_but_edit_their_details(staff):
    client = client_for(staff)
    url = f"/api/v1/users/{staff.pk}/"

    assert client.patch(url, {"is_active": False}, format="json").status_code == 403
    assert client.patch(url, {"first_name": "Stella"}, format="json").status_code == 200


def test_nobody_deactivates_or_demotes_their_own_account_not_even_a_superuser(superuser):
    client = client_for(superuser)
    url = f"/api/v1/users/{superuser.pk}/"

    assert client.patch(url, {"is_active": False}, format="json").status_code == 403
    assert client.patch(url, {"is_staff": False}, format="json").status_code == 403
    assert client.patch(url, {"first_name": "Ruth"}, format="json").status_code == 200
    fresh = User.objects.get(pk=superuser.pk)
    assert fresh.is_active and fresh.is_staff


def test_any_user_changes_their_own_password_with_the_current_one(csm):
    old = Token.objects.create(user=csm)
    client = client_for(csm)

    wrong = client.post(
        "/api/v1/auth/password/",
        {"current_password": "nope", "new_password": NEW_PASSWORD},
        format="json",
    )
    weak = client.post(
        "/api/v1/auth/password/",
        {"current_password": PASSWORD, "new_password": "123"},
        format="json",
    )
    right = client.post(
        "/api/v1/auth/password/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )

    assert (wrong.status_code, weak.status_code, right.status_code) == (400, 400, 204)
    assert wrong.json()["current_password"] == ["Your current password is wrong."]
    assert "new_password" in weak.json()
    assert can_log_in("alice", NEW_PASSWORD)
    assert not Token.objects.filter(key=old.key).exists()


# ---- the same rule in the Django admin ----------------------------------------------------


@pytest.fixture
def user_manager(staff):
    """Staff with every Django permission on accounts and tokens: still not a superuser."""
    perms = Permission.objects.filter(
        content_type__app_label__in=["auth", "authtoken"],
        codename__regex=r"_(user|group|token|tokenproxy)$",
    )
    staff.user_permissions.add(*perms)
    return User.objects.get(pk=staff.pk)


def test_in_the_admin_staff_cannot_change_a_superuser_or_their_password(
    user_manager, superuser, client
):
    client.force_login(user_manager)

    password_page = client.get(f"/admin/auth/user/{superuser.pk}/password/")
    password_post = client.post(
        f"/admin/auth/user/{superuser.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    change_post = client.post(
        f"/admin/auth/user/{superuser.pk}/change/",
        {"username": "root", "email": "x@example.com", "is_active": ""},
    )

    assert password_page.status_code == 403
    assert password_post.status_code == 403
    assert change_post.status_code == 403
    assert can_log_in("root", PASSWORD)
    assert User.objects.get(pk=superuser.pk).is_active


def test_in_the_admin_staff_cannot_set_a_csms_password_or_make_them_staff(
    user_manager, csm, client
):
    client.force_login(user_manager)
    sync_admins = Group.objects.get(name="Sync admin")

    password_post = client.post(
        f"/admin/auth/user/{csm.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    saved = client.post(
        f"/admin/auth/user/{csm.pk}/change/",
        {
            "username": "alice",
            "first_name": "Alicia",
            "email": "alice@example.com",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "groups": [sync_admins.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )

    assert password_post.status_code == 403
    assert saved.status_code == 302  # the form was accepted; the privileged fields ignored
    fresh = User.objects.get(pk=csm.pk)
    assert fresh.first_name == "Alicia"
    assert not (fresh.is_staff or fresh.is_superuser)
    assert not fresh.groups.exists()
    assert can_log_in("alice", PASSWORD)


def test_in_the_admin_staff_cannot_bulk_delete_a_superuser(user_manager, superuser, client):
    client.force_login(user_manager)

    response = client.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": [superuser.pk], "post": "yes"},
    )

    assert response.status_code == 403
    assert User.objects.filter(pk=superuser.pk).exists()


def test_in_the_admin_your_own_password_change_asks_for_the_current_one(user_manager, client):
    client.force_login(user_manager)

    response = client.get(f"/admin/auth/user/{user_manager.pk}/password/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/password_change/"


def test_a_superuser_sets_a_password_in_the_admin_and_the_tokens_end(superuser, csm, client):
    old = Token.objects.create(user=csm)
    client.force_login(superuser)

    response = client.post(
        f"/admin/auth/user/{csm.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302
    assert can_log_in("alice", NEW_PASSWORD)
    assert not Token.objects.filter(key=old.key).exists()


def test_only_superusers_see_api_tokens_and_nobody_sees_a_key(user_manager, superuser, client):
    token = Token.objects.create(user=superuser)

    client.force_login(user_manager)
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 403
    client.force_login(superuser)
    page = client.get("/admin/authtoken/tokenproxy/")
    assert page.status_code == 200
    assert token.key not in page.content.decode()


def test_a_tokens_pages_in_the_admin_never_show_its_key(superuser, csm, client):
    from django.contrib.admin.models import LogEntry

    token = Token.objects.create(user=csm)
    client.force_login(superuser)
    pages = [
        client.get(f"/admin/authtoken/tokenproxy/{csm.pk}/change/"),
        client.get(f"/admin/authtoken/tokenproxy/{csm.pk}/delete/"),
        client.get(f"/admin/authtoken/tokenproxy/{csm.pk}/history/"),
    ]
    deleted = client.post(
        f"/admin/authtoken/tokenproxy/{csm.pk}/delete/", {"post": "yes"}, follow=True
    )

    for page in [*pages, deleted]:
        assert page.status_code == 200
        assert token.key not in page.content.decode()
    assert "API token of alice" in pages[0].content.decode()
    assert not Token.objects.filter(user=csm).exists()
    assert not any(token.key in entry.object_repr for entry in LogEntry.objects.all())
