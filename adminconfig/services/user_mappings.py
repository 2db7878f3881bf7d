"""Which Salesforce user each CSM is."""

from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from .. import hooks
from ..models import SalesforceConnection, SalesforceUser, UserMapping


@transaction.atomic
def user_mapping_set(
    *,
    user: User,
    salesforce_user_id: str | None,
    source: str = UserMapping.Source.MANUAL,
) -> UserMapping | None:
    """Link a CSM to a Salesforce user; None or '' removes the link."""
    if not salesforce_user_id:
        UserMapping.objects.filter(user=user).delete()
        return None
    taken = UserMapping.objects.filter(salesforce_user_id=salesforce_user_id).exclude(user=user)
    if taken.exists():
        raise ValidationError(
            {
                "salesforce_user_id": f"Salesforce user {salesforce_user_id} is already mapped to "
                f"{taken.first().user}."
            }
        )
    mapping = UserMapping.objects.filter(user=user).first() or UserMapping(user=user)
    mapping.salesforce_user_id = salesforce_user_id
    mapping.source = source
    mapping.full_clean(exclude=["user"])
    mapping.save()
    return mapping


@dataclass
class MatchResult:
    matched: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


def users_match_by_email(*, connection: SalesforceConnection) -> MatchResult:
    """Map every CSM without a hand-set mapping to the Salesforce user with the same email."""
    sf_users = hooks.gateway().org_users(connection)  # network first, outside the transaction
    by_email: dict[str, str] = {}
    for sf_user in sf_users:
        if sf_user.get("Email"):
            by_email.setdefault(sf_user["Email"].lower(), sf_user["Id"])
    result = MatchResult()
    with transaction.atomic():
        # Kept as a directory, so the cockpit names a Salesforce owner who has no Cockpit
        # account instead of showing their Id.
        SalesforceUser.objects.exclude(salesforce_id__in=[u["Id"] for u in sf_users]).delete()
        SalesforceUser.objects.bulk_create(
            [
                SalesforceUser(
                    salesforce_id=u["Id"], name=u.get("Name") or "", email=u.get("Email") or ""
                )
                for u in sf_users
            ],
            update_conflicts=True,
            unique_fields=["salesforce_id"],
            update_fields=["name", "email", "fetched_at"],
        )
        manual = set(
            UserMapping.objects.filter(source=UserMapping.Source.MANUAL).values_list(
                "user_id", flat=True
            )
        )
        for user in User.objects.filter(is_active=True).order_by("username"):
            if user.pk in manual:
                continue
            sf_id = by_email.get((user.email or "").lower())
            if (
                sf_id
                and not UserMapping.objects.filter(salesforce_user_id=sf_id)
                .exclude(user=user)
                .exists()
            ):
                user_mapping_set(
                    user=user, salesforce_user_id=sf_id, source=UserMapping.Source.EMAIL
                )
                result.matched.append(user.username)
            elif not UserMapping.objects.filter(user=user).exists():
                result.unmatched.append(user.username)
    return result


def users_unmatched() -> list[User]:
    return list(User.objects.filter(is_active=True, salesforce_user=None).order_by("username"))
