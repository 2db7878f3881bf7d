"""OAuth 2.0 token endpoint and bearer-token checks.

`client_credentials` acts as the integration user; `password` logs in any stored user with a
password. Tokens are opaque, stored in SQLite (they survive a restart, as Salesforce sessions
do) and expire after a configurable time, or all at once through the admin endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sfemulator.errors import OAuthError, invalid_session
from sfemulator.ids import ORG_PREFIX, make_id
from sfemulator.records import Records
from sfemulator.schema import USER
from sfemulator.sftime import Clock
from sfemulator.store import Store

ORG_ID = make_id(ORG_PREFIX, 1)


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str


class Auth:
    def __init__(
        self,
        store: Store,
        records: Records,
        clock: Clock,
        client_id: str,
        client_secret: str,
        token_ttl: int,
    ) -> None:
        self.store = store
        self.records = records
        self.clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl

    def issue(self, form: dict[str, str], instance_url: str) -> dict[str, str]:
        grant_type = form.get("grant_type")
        if grant_type not in ("client_credentials", "password"):
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        if not hmac.compare_digest(form.get("client_id", ""), self.client_id):
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(form.get("client_secret", ""), self.client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")
        if grant_type == "client_credentials":
            user = self._integration_user()
        else:
            user = self._password_user(form.get("username", ""), form.get("password", ""))
        if user is None:
            raise OAuthError("invalid_grant", "authentication failure")
        now = self.clock.now().timestamp()
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        self.store.add_token(token, user["Id"], now, now + self.token_ttl)
        identity = f"{instance_url}/id/{ORG_ID}/{user['Id']}"
        issued_at = str(int(now * 1000))
        signature = base64.b64encode(
            hmac.new(
                self.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
            ).digest()
        ).decode()
        return {
            "access_token": token,
            "instance_url": instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
            "scope": "api",
        }

    def login(self, username: str, password: str) -> str | None:
        """A session id for the record page's login form (Salesforce's `sid` cookie): a
        token like the OAuth ones, with the same lifetime. None for bad credentials."""
        user = self._password_user(username, password)
        if user is None:
            return None
        now = self.clock.now().timestamp()
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        self.store.add_token(token, user["Id"], now, now + self.token_ttl)
        return token

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise invalid_session()
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token:
            raise invalid_session()
        found = self.store.token(token.strip())
        if found is None or found[1] <= self.clock.now().timestamp():
            raise invalid_session()
        user = self.store.get_live(USER.name, found[0])
        if user is None or not user.get("IsActive"):
            raise invalid_session()
        return Principal(user["Id"], user["Username"])

    def expire_all(self) -> None:
        self.store.expire_tokens(self.clock.now().timestamp())

    def _integration_user(self) -> dict | None:
        user_id = self.store.get_meta("integration_user_id")
        return self.store.get_live(USER.name, user_id) if user_id else None

    def _password_user(self, username: str, password: str) -> dict | None:
        if not username:
            return None
        for user in self.store.find_live_by_unique(USER.name, "Username", username):
            if user.get("IsActive") and self.records.check_password(user["Id"], password):
                return user
        return None
