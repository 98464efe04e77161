"""Password hashing: argon2id through passlib."""

from __future__ import annotations

from passlib.context import CryptContext


def argon2id(*, memory_kib: int, time_cost: int, parallelism: int) -> CryptContext:
    """A PasswordHasher (application/ports.py): argon2id at this cost."""
    return CryptContext(
        schemes=["argon2"],
        argon2__type="ID",
        argon2__memory_cost=memory_kib,
        argon2__time_cost=time_cost,
        argon2__parallelism=parallelism,
    )
