"""The roles an account holds, and which of them an admin may grant.

``guest`` is an anonymous customer (no email, no password) and stays apart: it is never granted
or taken away by an admin, only left behind when the guest registers. ``customer``, ``staff``
(works orders: fulfilment) and ``admin`` (everything) are granted by an admin.
"""

from __future__ import annotations

from collections.abc import Iterable

from auth_service.domain.errors import InvalidRoles

GUEST = "guest"
CUSTOMER = "customer"
STAFF = "staff"
ADMIN = "admin"
GRANTABLE = frozenset({CUSTOMER, STAFF, ADMIN})
MAX_ROLES = len(GRANTABLE)


def grantable_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """The roles as an account keeps them (each once, sorted), or InvalidRoles naming every
    role that cannot be granted; an empty list is refused too (an account holds a role)."""
    wanted = list(roles)
    refused = sorted({role for role in wanted if role not in GRANTABLE})
    if refused:
        names = ", ".join(repr(role) for role in refused)
        raise InvalidRoles(
            f"cannot grant {names}: only {', '.join(sorted(GRANTABLE))} can be granted"
        )
    if not wanted:
        raise InvalidRoles("roles must name at least one role")
    return tuple(sorted(set(wanted)))
