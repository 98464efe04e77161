"""Which status each refusal of the operators' API answers with (its message is the detail)."""

from __future__ import annotations

from ops_service.application.ports import DependencyUnavailable
from ops_service.domain.errors import NoPendingDeadLetters, OrderNotFound, UnknownDeadLetterTopic

ERROR_STATUSES: dict[type[Exception], int] = {
    OrderNotFound: 404,
    UnknownDeadLetterTopic: 404,
    NoPendingDeadLetters: 404,
    DependencyUnavailable: 503,
}
