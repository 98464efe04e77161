"""The auth service on its in-memory fakes: real argon2id (at the cheapest cost), real RS256
keys under a real key-encryption key, and a database clock the tests move."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.fernet import Fernet
from pydantic import SecretStr

from auth_service.adapters.key_encryption import KeyEncryptionKeys
from auth_service.adapters.memory import AuthStore, InMemoryAuthUnitOfWork, KeptKey
from auth_service.adapters.passwords import argon2id
from auth_service.application.service import AuthService, SessionRules
from auth_service.application.tokens import TokenIssuer
from auth_service.domain.throttle import LeakRate, ThrottlePolicy
from servicekit.messaging.envelope import Event
from servicekit.messaging.unit_of_work import Cause
from servicekit.tokens import ALGORITHM, AUDIENCE, ISSUER

KEK = KeyEncryptionKeys.from_setting(SecretStr(Fernet.generate_key().decode()))
POLICY = ThrottlePolicy(
    free_failures=5,
    lockout_base_seconds=1.0,
    lockout_max_seconds=300.0,
    window_seconds=900.0,
    max_failures_per_address=100,
)
# Three guests per address, then one more every 20 s.
GUESTS = LeakRate(capacity=3, window_seconds=60.0)
PASSWORD = "correct-horse-42"


@dataclass
class Clock:
    """The database's clock, moved by hand."""

    now: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Auth:
    """An AuthService on a fresh store, with every unit of work it ran kept."""

    def __init__(self, keys: dict[str, KeptKey]) -> None:
        self.clock = Clock()
        self.store = AuthStore(signing_keys=dict(keys), clock=self.clock)
        self.uows: list[InMemoryAuthUnitOfWork] = []
        self.service = AuthService(
            self.unit_of_work,
            passwords=argon2id(memory_kib=8, time_cost=1, parallelism=1),
            issuer=TokenIssuer(self.unit_of_work, KEK, access_ttl=900, reload_seconds=60),
            rules=SessionRules(
                refresh_ttl=timedelta(days=14),
                throttle=POLICY,
                known_address_for=timedelta(days=30),
                guests_per_address=GUESTS,
            ),
        )

    def unit_of_work(self) -> InMemoryAuthUnitOfWork:
        uow = InMemoryAuthUnitOfWork(self.store, Cause("corr"))
        self.uows.append(uow)
        return uow

    def published(self, kind: type[Event] | None = None) -> list[Event]:
        return [event for uow in self.uows for event in uow.events(kind)]

    def register(self, email: str, password: str = PASSWORD) -> str:
        return self.service.register(email=email, password=password, full_name="Test").user_id

    def claims(self, access_token: str) -> dict[str, object]:
        """The claims of a token, verified against the JWKS the service publishes."""
        kid = jwt.get_unverified_header(access_token)["kid"]
        (jwk,) = [key for key in self.service.issuer.jwks()["keys"] if key["kid"] == kid]
        key = jwt.PyJWK(jwk).key
        claims: dict[str, object] = jwt.decode(
            access_token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER
        )
        return claims
