"""How the fake authenticates the App: an RS256 JWT for /app endpoints, installation tokens
for everything else, both checked the way GitHub checks them (signature, issuer, expiry)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

# GitHub refuses an App JWT whose `exp` is more than 10 minutes away ("too far in the future").
MAX_JWT_LIFETIME = 10 * 60


@dataclass(frozen=True)
class InstallationToken:
    token: str
    installation_id: int
    expires_at: float  # epoch seconds


class TokenStore:
    """Installation tokens the fake issued; each expires `ttl` seconds after issue."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._tokens: dict[str, InstallationToken] = {}

    def issue(self, installation_id: int) -> InstallationToken:
        issued = InstallationToken(
            f"ghs_{secrets.token_urlsafe(27)}", installation_id, time.time() + self.ttl
        )
        self._tokens[issued.token] = issued
        return issued

    def valid(self, token: str) -> InstallationToken | None:
        found = self._tokens.get(token)
        return found if found is not None and found.expires_at > time.time() else None

    def expire_all(self) -> None:
        """Make every issued token stale now, to test that the App fetches a new one."""
        for token, issued in self._tokens.items():
            self._tokens[token] = InstallationToken(token, issued.installation_id, 0.0)

    def __len__(self) -> int:
        return len(self._tokens)


def credential(header: str | None, schemes: tuple[str, ...]) -> str | None:
    """The credential of an `Authorization: <scheme> <credential>` header (scheme any case)."""
    if not header or " " not in header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() in schemes else None


def app_jwt_error(token: str, public_key: str, app_id: int) -> str | None:
    """Why GitHub would refuse this App JWT, or None when it is good."""
    try:
        claims = jwt.decode(
            token, public_key, algorithms=["RS256"], options={"require": ["iat", "exp", "iss"]}
        )
    except jwt.ExpiredSignatureError:
        return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"  # noqa: E501
    except jwt.PyJWTError:
        return "A JSON web token could not be decoded"
    if str(claims["iss"]) != str(app_id):  # GitHub accepts the App id or client id, as text
        return "Integration not found"
    if claims["exp"] - time.time() > MAX_JWT_LIFETIME + 60:
        return "'Expiration time' claim ('exp') is too far in the future"
    return None
