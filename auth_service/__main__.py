"""``python -m auth_service [serve|rotate-key|retire-old-keys|rotate-kek]``."""

from __future__ import annotations

import sys

from servicekit.server import serve

COMMANDS = "serve | rotate-key | retire-old-keys | rotate-kek"


def main() -> None:
    """Serve the app, or manage signing keys and the key-encryption key."""
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    from auth_service.settings import AuthSettings

    settings = AuthSettings()
    if command == "serve":
        serve("auth_service.main:create_app", settings, name="auth-service")
        return
    if command not in COMMANDS.split(" | "):
        raise SystemExit(f"unknown command {command!r}: {COMMANDS}")
    from auth_service.adapters.key_encryption import KeyEncryptionKeys
    from auth_service.adapters.repository import SqlAuthUnitOfWork
    from auth_service.application import signing_keys
    from auth_service.application.ports import KeyEncryptionError
    from servicekit.db import Database
    from servicekit.messaging.unit_of_work import transaction

    database = Database(settings.database_url, application_name="auth-keys")
    try:
        kek = KeyEncryptionKeys.from_setting(settings.key_encryption_key)
        with transaction(database.sessions, SqlAuthUnitOfWork) as uow:
            keys = uow.signing_keys
            if command == "rotate-key":
                print(f"new signing key {signing_keys.add_key(keys, kek)}; old keys stay published")
            elif command == "retire-old-keys":
                print(f"retired {signing_keys.retire_all_but_newest(keys)} keys")
            else:
                count = signing_keys.reencrypt_all(keys, kek)
                print(f"re-encrypted {count} signing keys under the first key-encryption key")
    except KeyEncryptionError as exc:
        raise SystemExit(f"auth_service {command}: {exc}") from None
    finally:
        database.dispose()


if __name__ == "__main__":
    main()
