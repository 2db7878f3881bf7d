"""Seed data. The profiles "System Administrator" and "Standard User" and the integration user
(a System Administrator; client_credentials acts as it) always exist; `users` adds sales users
(Standard User) whose emails match the demo CSMs of `make run`; `demo` adds accounts, contacts
and tasks due around today. Seeding is idempotent: a restart on the same state file adds
nothing.
"""

from __future__ import annotations

from datetime import timedelta

from sfemulator.ids import make_id
from sfemulator.records import Records, WriteContext
from sfemulator.schema import ACCOUNT, CONTACT, PROFILE, TASK, USER
from sfemulator.sftime import format_date
from sfemulator.store import Store

SEEDS = ("none", "users", "demo")
INTEGRATION_USERNAME = "integration@sfemu.example"
# The password of every seeded user, for the OAuth password grant.
SEED_PASSWORD = "sfemu-Passw0rd"
SYSTEM_ADMINISTRATOR = "System Administrator"
STANDARD_USER = "Standard User"
PROFILES = (SYSTEM_ADMINISTRATOR, STANDARD_USER)
SALESFORCE_LICENSE_ID = make_id("100", 1)
# What a user created in Setup by an admin in the US would get.
USER_DEFAULTS = {
    "TimeZoneSidKey": "America/Los_Angeles",
    "LocaleSidKey": "en_US",
    "EmailEncodingKey": "UTF-8",
    "LanguageLocaleKey": "en_US",
}
SALES_USERS = (
    ("Alice", "Adams", "alice@example.com"),
    ("Bob", "Brown", "bob@example.com"),
    ("Carol", "Chen", "carol@example.com"),
    # A sales user with no Cockpit CSM of the same email: the user mapping must skip them.
    ("Dave", "Davis", "dave@example.com"),
)
ACCOUNTS = (
    ("Acme Corp", "Manufacturing", "https://acme.example.com"),
    ("Globex", "Technology", "https://globex.example.com"),
    ("Initech", "Finance", "https://initech.example.com"),
    ("Umbrella", "Healthcare", "https://umbrella.example.com"),
)
CONTACTS = (("Wile", "Coyote"), ("Hank", "Scorpio"), ("Bill", "Lumbergh"), ("Albert", "Wesker"))
# (owner index, account index, subject, days from today, status, priority)
TASKS = (
    (0, 0, "Quarterly business review with Acme Corp", 2, "Not Started", "High"),
    (0, 1, "Renewal call: Globex", -1, "In Progress", "High"),
    (0, 2, "Send onboarding checklist to Initech", 5, "Not Started", "Normal"),
    (1, 1, "Check Globex adoption metrics", 0, "Not Started", "Normal"),
    (1, 3, "Escalation follow-up with Umbrella", -3, "Waiting on someone else", "High"),
    (1, 0, "Share product roadmap with Acme Corp", 7, "Deferred", "Low"),
    (2, 2, "Initech health check", 1, "Not Started", "Normal"),
    (2, 3, "Umbrella executive sponsor intro", -2, "Completed", "Normal"),
    (2, 0, "Plan Acme Corp training session", 4, "In Progress", "Low"),
    (3, 1, "Globex expansion opportunity notes", 3, "Not Started", "Normal"),
    (3, 3, "Umbrella contract review", -5, "Completed", "Low"),
)


def ensure_profiles(store: Store, records: Records) -> dict[str, str]:
    """The standard profiles every org has, by name. Created by the integration user once it
    exists (see ensure_integration_user)."""
    ids = {}
    with store.transaction():
        for name in PROFILES:
            found = store.find_live_by_unique(PROFILE.name, "Name", name)
            if found:
                ids[name] = found[0]["Id"]
                continue
            profile = records.create(PROFILE, {"Name": name}, WriteContext(user_id=""))
            # Read-only over the API; every standard profile has the Salesforce license.
            profile["UserLicenseId"] = SALESFORCE_LICENSE_ID
            store.save(profile)
            ids[name] = profile["Id"]
    return ids


def user_fields(first: str, last: str, email: str, username: str, profile_id: str) -> dict:
    """A new user's fields, with the ones Salesforce requires and the alias it would suggest."""
    return {
        "Username": username,
        "FirstName": first,
        "LastName": last,
        "Email": email,
        "Alias": (first[:1] + last[:4]).lower(),
        "ProfileId": profile_id,
        **USER_DEFAULTS,
    }


def ensure_integration_user(store: Store, records: Records, profiles: dict[str, str]) -> str:
    with store.transaction():
        existing = store.get_meta("integration_user_id")
        if existing and store.get_live(USER.name, existing):
            return existing
        # The integration user creates itself: its audit fields point at its own Id.
        fields = user_fields(
            "Integration",
            "User",
            "integration@example.com",
            INTEGRATION_USERNAME,
            profiles[SYSTEM_ADMINISTRATOR],
        )
        user = records.create(USER, {**fields, "Alias": "integ"}, WriteContext(user_id=""))
        user["CreatedById"] = user["LastModifiedById"] = user["Id"]
        store.save(user)
        records.set_password(user["Id"], SEED_PASSWORD)
        store.set_meta("integration_user_id", user["Id"])
        for profile_id in profiles.values():
            profile = store.get_live(PROFILE.name, profile_id)
            if profile is not None and not profile["CreatedById"]:
                profile["CreatedById"] = profile["LastModifiedById"] = user["Id"]
                store.save(profile)
        return user["Id"]


def _backfill_users(store: Store, profiles: dict[str, str]) -> None:
    """Users of a state file written before User had all of Salesforce's required fields get
    them, so that later updates of those users pass the required-field check."""
    with store.transaction():
        for user in store.scan(USER.name, include_deleted=False):
            missing = {name: value for name, value in USER_DEFAULTS.items() if not user.get(name)}
            if not user.get("ProfileId"):
                missing["ProfileId"] = profiles[STANDARD_USER]
            if not user.get("Alias"):
                missing["Alias"] = (
                    (user.get("FirstName") or "")[:1] + user["LastName"][:4]
                ).lower()
            if missing:
                store.save({**user, **missing})


def seed(name: str, store: Store, records: Records) -> None:
    profiles = ensure_profiles(store, records)
    integration_id = ensure_integration_user(store, records, profiles)
    _backfill_users(store, profiles)
    if name == "none":
        return
    ctx = WriteContext(user_id=integration_id)
    user_ids = _seed_users(store, records, ctx, profiles[STANDARD_USER])
    if name == "demo":
        _seed_demo(store, records, ctx, user_ids)


def _seed_users(store: Store, records: Records, ctx: WriteContext, profile_id: str) -> list[str]:
    ids = []
    with store.transaction():
        for first, last, email in SALES_USERS:
            username = f"{email}.sfemu"
            found = store.find_live_by_unique(USER.name, "Username", username)
            if found:
                ids.append(found[0]["Id"])
                continue
            user = records.create(
                USER,
                {
                    **user_fields(first, last, email, username, profile_id),
                    "Title": "Account Executive",
                },
                ctx,
            )
            records.set_password(user["Id"], SEED_PASSWORD)
            ids.append(user["Id"])
    return ids


def _seed_demo(store: Store, records: Records, ctx: WriteContext, user_ids: list[str]) -> None:
    if store.get_meta("seeded:demo"):
        return
    today = records.clock.today()
    with store.transaction():
        account_ids = []
        contact_ids = []
        for (name, industry, website), (first, last) in zip(ACCOUNTS, CONTACTS, strict=True):
            account = records.create(
                ACCOUNT, {"Name": name, "Industry": industry, "Website": website}, ctx
            )
            account_ids.append(account["Id"])
            contact = records.create(
                CONTACT,
                {
                    "FirstName": first,
                    "LastName": last,
                    "AccountId": account["Id"],
                    "Email": f"{first.lower()}@{website.split('//')[1]}",
                },
                ctx,
            )
            contact_ids.append(contact["Id"])
        for owner, account, subject, days, status, priority in TASKS:
            records.create(
                TASK,
                {
                    "Subject": subject,
                    "OwnerId": user_ids[owner],
                    "WhatId": account_ids[account],
                    "WhoId": contact_ids[account],
                    "ActivityDate": format_date(today + timedelta(days=days)),
                    "Status": status,
                    "Priority": priority,
                    "Description": f"Seeded demo task: {subject}.",
                },
                ctx,
            )
        store.set_meta("seeded:demo", "1")
