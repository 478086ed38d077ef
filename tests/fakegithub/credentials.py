"""The test App's identity: an RSA key pair, an App id and a webhook secret."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class AppCredentials:
    app_id: int
    private_key: str  # PEM, PKCS#1 ("BEGIN RSA PRIVATE KEY") as GitHub hands it out
    public_key: str  # PEM, what the fake verifies the App's JWTs with
    webhook_secret: str

    @classmethod
    def generate(cls, app_id: int = 29310, webhook_secret: str | None = None) -> AppCredentials:
        """A fresh key pair (slow-ish: build once per test session). 29310 is `hook.app_id`
        in webhooks/ping.json."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(app_id, private, public.decode(), webhook_secret or secrets.token_hex(20))
