"""Auth service tables (SQLAlchemy Core); created by the revisions in migrations/versions/."""

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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("user_id", UUID(as_uuid=False), primary_key=True),
    Column("email", Text, nullable=False, unique=True),
    Column("full_name", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("roles", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_id", UUID(as_uuid=False), primary_key=True),
    Column("family_id", UUID(as_uuid=False), nullable=False, index=True),
    Column("user_id", UUID(as_uuid=False), nullable=False),
    # sha256 of the opaque token: a leaked table cannot be replayed.
    Column("token_hash", Text, nullable=False, unique=True),
    Column("issued_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("rotated_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

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

login_address_buckets = Table(
    "login_address_buckets",
    metadata,
    Column("address", Text, primary_key=True),
    Column("level", Double, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
