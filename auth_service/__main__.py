"""``python -m auth_service [serve|rotate-key|retire-old-keys]``."""

from __future__ import annotations

import sys

from servicekit.serve import serve


def main() -> None:
    """Serve the app, or manage signing keys."""
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    from auth_service.settings import AuthSettings

    settings = AuthSettings()
    if command == "serve":
        serve("auth_service.main:create_app", settings, name="auth-service")
        return
    from auth_service.adapters import keys
    from servicekit.db import Database

    database = Database(settings.database_url, application_name="auth-keys")
    with database.sessions() as session, session.begin():
        if command == "rotate-key":
            print(f"new signing key {keys.add_key(session)}; old keys stay published")
        elif command == "retire-old-keys":
            print(f"retired {keys.retire_all_but_newest(session)} keys")
        else:
            raise SystemExit(f"unknown command {command!r}: serve | rotate-key | retire-old-keys")


main()
