"""Encryption of stored Salesforce secrets with a key from the environment."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _fernet() -> MultiFernet:
    keys = list(settings.SYNC_ENCRYPTION_KEYS)
    if not keys:
        # Fall back to a key derived from SECRET_KEY so a dev setup needs no extra variable.
        # Production sets SYNC_ENCRYPTION_KEY, so rotating SECRET_KEY does not lose secrets.
        digest = hashlib.sha256(("cockpit-sync:" + settings.SECRET_KEY).encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "SYNC_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64 bytes), comma-separated."
        ) from exc


def secret_encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def secret_decrypt(token: str) -> str:
    """The stored secret; an unreadable one (key changed) raises ValueError with a clear message."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError(
            "The stored client secret cannot be decrypted with SYNC_ENCRYPTION_KEY; enter it again."
        ) from None
