"""The key-encryption key (KEK): Fernet keys from AUTH_KEY_ENCRYPTION_KEY that encrypt the RS256
private keys at rest, so a copy of the database (a backup, a read-only SQL injection, a stolen
disk) does not let anyone mint tokens. Fernet is AES-128-CBC with an HMAC-SHA256 over it: a
ciphertext that was altered, or made under another key, is refused rather than decrypted wrong.

Several keys, newest first (MultiFernet): the first encrypts, every one decrypts, so the KEK can
be rotated without downtime (README, "Rotating the key-encryption key")."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from auth_service.application.ports import KeyEncryptionError

SETTING = "AUTH_KEY_ENCRYPTION_KEY"


class KeyEncryptionKeys:
    """Encrypts with the newest KEK, decrypts with any of them (a ``KeyCipher``)."""

    def __init__(self, keys: list[Fernet]) -> None:
        if not keys:
            raise KeyEncryptionError(f"{SETTING} holds no key")
        self._keys = MultiFernet(keys)

    @classmethod
    def from_setting(cls, value: SecretStr) -> KeyEncryptionKeys:
        """Parse the comma-separated setting (newest first); a clear error when it is unusable."""
        parts = [part.strip() for part in value.get_secret_value().split(",") if part.strip()]
        if not parts:
            raise KeyEncryptionError(
                f"{SETTING} is not set: the signing keys are encrypted with it. Generate one with"
                " `python -c 'from cryptography.fernet import Fernet;"
                " print(Fernet.generate_key().decode())'` and keep it outside the database"
            )
        keys = []
        for position, part in enumerate(parts, start=1):
            try:
                keys.append(Fernet(part))
            except ValueError:
                raise KeyEncryptionError(
                    f"{SETTING}: key {position} of {len(parts)} is not a Fernet key"
                    " (32 bytes, url-safe base64)"
                ) from None
        return cls(keys)

    def encrypt(self, plaintext: bytes) -> str:
        """A ciphertext under the newest key."""
        return self._keys.encrypt(plaintext).decode()

    def decrypt(self, ciphertext: str) -> bytes:
        """The plaintext, or KeyEncryptionError when no configured key made this ciphertext."""
        try:
            return self._keys.decrypt(ciphertext.encode())
        except InvalidToken:
            raise KeyEncryptionError(
                f"a stored signing key cannot be decrypted with {SETTING}: the key it was"
                " encrypted with is not configured (or the ciphertext was altered)"
            ) from None

    def reencrypt(self, ciphertext: str) -> str:
        """The same plaintext under the newest key (after a KEK rotation)."""
        try:
            return self._keys.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise KeyEncryptionError(
                f"a stored signing key cannot be decrypted with any key of {SETTING}"
            ) from None
