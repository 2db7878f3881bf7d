"""Seed data. The integration user always exists (client_credentials acts as it); `users` adds
sales users whose emails match the demo CSMs of `make run`; `demo` adds accounts, contacts and
tasks due around today. Seeding is idempotent: a restart on the same state file adds nothing.
"""

from __future__ import annotations

from datetime import timedelta

from sfemulator.records import Records, WriteContext
from sfemulator.schema import ACCOUNT, CONTACT, TASK, USER
from sfemulator.sftime import format_date
from sfemulator.store import Store

SEEDS = ("none", "users", "demo")
INTEGRATION_USERNAME = "integration@sfemu.example"
# The password of every seeded user, for the OAuth password grant.
SEED_PASSWORD = "sfemu-Passw0rd"
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


def ensure_integration_user(store: Store, records: Records) -> str:
    with store.transaction():
        existing = store.get_meta("integration_user_id")
        if existing and store.get_live(USER.name, existing):
            return existing
        # The integration user creates itself: its audit fields point at its own Id.
        user = records.create(
            USER,
            {
                "Username": INTEGRATION_USERNAME,
                "FirstName": "Integration",
                "LastName": "User",
                "Email": "integration@example.com",
                "Alias": "integ",
            },
            WriteContext(user_id=""),
        )
        user["CreatedById"] = user["LastModifiedById"] = user["Id"]
        store.save(user)
        records.set_password(user["Id"], SEED_PASSWORD)
        store.set_meta("integration_user_id", user["Id"])
        return user["Id"]


def seed(name: str, store: Store, records: Records) -> None:
    integration_id = ensure_integration_user(store, records)
    if name == "none":
        return
    ctx = WriteContext(user_id=integration_id)
    user_ids = _seed_users(store, records, ctx)
    if name == "demo":
        _seed_demo(store, records, ctx, user_ids)


def _seed_users(store: Store, records: Records, ctx: WriteContext) -> list[str]:
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
                    "Username": username,
                    "FirstName": first,
                    "LastName": last,
                    "Email": email,
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
