"""The auth tables that SQLAlchemy Core statements use (login_throttle.py, keys.py); the
revisions in migrations/versions/ create them. Accounts and refresh tokens are written with
hand-written statements (repository.py)."""

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Double,
    Integer,
    MetaData,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", Text, primary_key=True),
    # Only in databases written before keys were encrypted, until the next start encrypts it.
    Column("private_pem", Text),
    # The PKCS#8 PEM as a Fernet token under AUTH_KEY_ENCRYPTION_KEY (auth_0005).
    Column("private_key_encrypted", Text),
    Column("public_jwk", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("retired_at", DateTime(timezone=True)),
)

# Login throttling (auth_0006; domain/throttle.py has the rules). Emails are stored normalised,
# addresses as the client address the request was counted under.
login_account_lockouts = Table(
    "login_account_lockouts",
    metadata,
    Column("email", Text, primary_key=True),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("locked_until", DateTime(timezone=True)),
    Column("last_failure_at", DateTime(timezone=True)),
)

login_known_addresses = Table(
    "login_known_addresses",
    metadata,
    Column("email", Text, primary_key=True),
    Column("address", Text, primary_key=True),
    Column("last_login_at", DateTime(timezone=True), nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("locked_until", DateTime(timezone=True)),
    Column("last_failure_at", DateTime(timezone=True)),
)


def _address_buckets(name: str) -> Table:
    """A leaky bucket per client address (domain/throttle.py, ``Leak``)."""
    return Table(
        name,
        metadata,
        Column("address", Text, primary_key=True),
        Column("level", Double, nullable=False, server_default="0"),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


# Failed logins per client address.
login_address_buckets = _address_buckets("login_address_buckets")
# Guests made per client address (auth_0007).
guest_address_buckets = _address_buckets("guest_address_buckets")
