"""Companies and Salesforce Accounts: which company a task's WhatId is, and the Account names
an admin links a company by.

An Account Cockpit meets in a pull is matched to a company by its Account Id, then by exact
name among companies not linked yet; only then is a company created, under the Account's name
("Acme Corp (2)" when another company holds that name already), never under an Id.
"""

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from adminconfig.models import SalesforceConnection
from tasks.models import Company

from .client import SALESFORCE_ID, SalesforceClient, soql_ids
from .client_cache import client_for_connection
from .models import SalesforceAccount
from .outbox import companies_tasks_record
from .usage import api_usage_record

if TYPE_CHECKING:
    from .engine_config import Engine


def companies_for_accounts(*, accounts: dict[str, str]) -> dict[str, int]:
    """Company ids for these Accounts (Id → name): known ones, unlinked companies of the same
    name (linked now, their synced tasks queued for a push), and new companies for the rest."""
    found = {
        account: pk
        for account, pk in Company.objects.filter(salesforce_account_id__in=accounts).values_list(
            "salesforce_account_id", "pk"
        )
        if account  # always, by the filter; said for the type checker
    }
    missing = {i: n for i, n in accounts.items() if i not in found}
    if not missing:
        return found
    with transaction.atomic():
        unlinked = {
            c.name: c
            for c in Company.objects.select_for_update().filter(
                salesforce_account_id=None, name__in=set(missing.values())
            )
        }
        linked = []
        for account_id, name in missing.items():
            company = unlinked.pop(name, None)
            if company is not None:
                company.salesforce_account_id = account_id
                company.save(update_fields=["salesforce_account_id"])
                linked.append(company.pk)
            else:
                company = Company.objects.create(
                    name=_free_name(name or "Unnamed account"), salesforce_account_id=account_id
                )
            found[account_id] = company.pk
        # The Account is now the WhatId of every task of a company linked by name, not only of
        # the tasks this pull met: the others go out (issue 16).
        companies_tasks_record(company_ids=linked)
    accounts_remember(accounts)
    return found


def _free_name(name: str) -> str:
    if not Company.objects.filter(name=name).exists():
        return name
    taken = set(Company.objects.filter(name__startswith=f"{name} (").values_list("name", flat=True))
    number = 2
    while f"{name} ({number})" in taken:
        number += 1
    return f"{name} ({number})"


def accounts_read(client: SalesforceClient, ids: list[str]) -> dict[str, str]:
    """Account names by Id (one query for up to 400 Ids)."""
    names: dict[str, str] = {}
    for start in range(0, len(ids), 400):
        soql = f"SELECT Id, Name FROM Account WHERE Id IN ({soql_ids(ids[start : start + 400])})"  # noqa: S608
        for page in client.query_pages(soql):
            names.update({row["Id"]: row.get("Name") or "" for row in page})
    return names


def accounts_remember(accounts: dict[str, str]) -> None:
    for account_id, name in accounts.items():
        SalesforceAccount.objects.update_or_create(
            salesforce_id=account_id, defaults={"name": name}
        )


def accounts_refresh(*, connection: SalesforceConnection) -> int:
    """Read every Account's name (2,000 a call) for the admin's company links."""
    client = client_for_connection(connection)
    before = client.calls
    seen: set[str] = set()
    for page in client.query_pages("SELECT Id, Name FROM Account ORDER BY Name"):
        rows = [SalesforceAccount(salesforce_id=r["Id"], name=r.get("Name") or "") for r in page]
        SalesforceAccount.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["salesforce_id"],
            update_fields=["name", "fetched_at"],
        )
        seen.update(r.salesforce_id for r in rows)
    SalesforceAccount.objects.exclude(salesforce_id__in=seen).delete()
    api_usage_record(connection, client.api_usage, calls=client.calls - before)
    return len(seen)


def account_choices() -> list[tuple[str, str]]:
    """(Id, "Name (Id)") of every Account Cockpit knows, for the company form."""
    return [(a.salesforce_id, str(a)) for a in SalesforceAccount.objects.all()]


def account_parse(value: Any) -> str | None:
    """The Account Id in what an admin typed: "Acme Corp (001…)", or the Id itself."""
    text = str(value or "").strip()
    if not text:
        return None
    if text.endswith(")") and "(" in text:
        text = text[text.rindex("(") + 1 : -1]
    return text


def account_resolve(*, text: Any) -> str | None:
    """The Account Id an admin means: a pick from the list ("Name (Id)"), an Id pasted, or an
    Account's exact name when one Account has it (case aside only when none has it exactly).
    A name several Accounts share is a question, answered with their Ids to pick from."""
    typed = str(text or "").strip()
    account_id = account_parse(typed)
    if account_id is None:
        return None
    if SalesforceAccount.objects.filter(pk=account_id).exists():
        return account_id
    named = list(SalesforceAccount.objects.filter(name=typed)) or list(
        SalesforceAccount.objects.filter(name__iexact=typed)
    )
    if len(named) == 1:
        return named[0].salesforce_id
    if named:
        picks = ", ".join(str(a) for a in named[:10])
        raise ValidationError(
            f"{len(named)} Salesforce Accounts are named “{typed}”: pick the one you mean "
            f"from the list ({picks})."
        )
    if SALESFORCE_ID.match(account_id) and account_id.startswith("001"):
        return account_id
    raise ValidationError(
        "No Salesforce Account by that name is known. Pick one from the list, or paste an "
        "Account Id (it starts with 001)."
    )


def accounts_load(engine: "Engine", page: list[dict[str, Any]], client: SalesforceClient) -> None:
    """Companies for the page's Accounts, into the engine's lookups: known ones by Account
    Id, then by exact name, new ones created under the Account's name. A pull and a reconcile
    both call it before they merge a page, so a WhatId either of them meets means the same
    company (a reconcile that left a new Account unmapped kept a twin's Account out of
    Cockpit for good: the twin of an owner no pull reads)."""
    what_ids = {r["WhatId"] for r in page if r.get("WhatId")} - set(engine.lookups.accounts_in)
    accounts = [i for i in what_ids if i.startswith("001")]
    if not accounts:
        return
    known = {
        account: pk
        for account, pk in Company.objects.filter(salesforce_account_id__in=accounts).values_list(
            "salesforce_account_id", "pk"
        )
        if account  # always, by the filter; said for the type checker
    }
    unknown = [i for i in accounts if i not in known]
    if unknown:
        known.update(companies_for_accounts(accounts=accounts_read(client, unknown)))
    engine.lookups.accounts_in.update(known)
    engine.lookups.accounts_out.update({pk: account for account, pk in known.items()})
