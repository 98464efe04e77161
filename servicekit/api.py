"""What every HTTP API shares on the wire: field types whose bounds are the database's, the
paging parameters, the error body, and the OpenAPI declaration of the errors a route answers.

The bounds live here once, not route by route: a value the database cannot store (a NUL
character, a lone UTF-16 surrogate, a page whose offset overflows a bigint, an amount wider than
``numeric(12, 2)``) is refused at validation with a 422 that names the field, instead of failing
in PostgreSQL with a 500. The constraints are declared in the OpenAPI document too, so clients
and schemathesis see the API the services really enforce.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from contracts.money import MAX_AMOUNT, check_currency, parse_price

# JSON Schema (ECMA-262) spelling of "no NUL character", declared on every text field.
NO_NUL_PATTERN = r"^[^\u0000]*$"

# Paging: page * size stays far below what an OFFSET (bigint) can hold.
MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 100


def storable_text(value: str) -> str:
    """Refuse what PostgreSQL's text cannot hold: NUL, and lone surrogates (not UTF-8)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
    return value


class _DeclaredNoNul:
    """Declares NO_NUL_PATTERN in the JSON schema; storable_text does the checking, with a
    message that says what is wrong rather than which pattern failed."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["pattern"] = NO_NUL_PATTERN
        return schema


# Text that the database can store; add lengths with Field(...) where it is used:
# ``name: Annotated[Text, Field(min_length=1, max_length=200)]``.
Text = Annotated[str, AfterValidator(storable_text), _DeclaredNoNul()]

# Money on the wire: a decimal string with at most two places (contracts.money).
Price = Annotated[
    Decimal,
    BeforeValidator(parse_price),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{1,10}(\.[0-9]{1,2})?$",
            "description": f"decimal string, > 0, two places at most, up to {MAX_AMOUNT}",
            "examples": ["19.99"],
        }
    ),
]
Currency = Annotated[
    str,
    AfterValidator(check_currency),
    WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 code"}),
]

PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page number, from 1")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page")]
# A list without pages: how many of the newest items.
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many items")]
SearchText = Annotated[Text | None, Query(max_length=100, description="part of a name or code")]


# An Idempotency-Key a client (or a merchant) sends so that a retry is recognised: required
# where a repeat must never act twice.
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="the same key returns the same result; printable ASCII, no spaces",
    ),
]


class RequestBody(BaseModel):
    """Base of every request body: unknown fields are refused (mass assignment), text is
    stripped; text fields use :data:`Text`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PostalAddress(RequestBody):
    """A postal address (delivery addresses, a profile's addresses): the same bounds wherever
    one is taken."""

    street: Text = Field(min_length=1, max_length=200)
    number: Text = Field(min_length=1, max_length=20)
    city: Text = Field(min_length=1, max_length=100)
    state: Text = Field(min_length=1, max_length=100)
    country: Text = Field(min_length=2, max_length=100)
    zipcode: Text = Field(min_length=1, max_length=20)


class FieldError(BaseModel):
    """One reason a request was refused (422)."""

    loc: list[str | int]
    msg: str
    type: str | None = None


class Error(BaseModel):
    """Every error answer: ``{"detail": ...}``, a sentence, or the field errors of a 422."""

    detail: str | list[FieldError]


_MEANING = {
    400: "The request cannot be served as sent.",
    401: "Missing, invalid or expired bearer token.",
    403: "The token is valid but lacks the role this needs.",
    404: "No such resource, or not yours.",
    409: "The resource's state does not allow this now.",
    422: "The request's fields are invalid; each reason names its field.",
    429: "Too many attempts; wait for Retry-After seconds.",
    503: "A dependency is unavailable; try again (see Retry-After when given).",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route for the errors it answers besides the common ones (see
    :func:`declare_common_errors`): 403, 404, 409, 429."""
    return {
        status: {"model": Error, "description": _MEANING.get(status, "Error.")}
        for status in statuses
    }


def declare_common_errors(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document list the errors every route may answer, so no route has
    to repeat them: 400 (a body that is not JSON) where there is a body, 422 where there is any
    input, 401 where a bearer token is required, 503 everywhere (a database or the signing keys
    unavailable). 422 is our error body, which also carries a sentence, not FastAPI's list-only
    one."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(_error_schemas())
        for methods in document.get("paths", {}).values():
            for operation in methods.values():
                responses = operation.setdefault("responses", {})
                wanted = [503]
                if operation.get("security"):
                    wanted.append(401)
                if operation.get("parameters") or operation.get("requestBody"):
                    wanted.append(422)
                    responses.pop("422", None)  # FastAPI's list-only body
                if operation.get("requestBody"):
                    wanted.append(400)
                for status in wanted:
                    responses.setdefault(str(status), _reference(status))
        for name in ("HTTPValidationError", "ValidationError"):
            if not _referenced(document, name):
                schemas.pop(name, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _error_schemas() -> dict[str, Any]:
    from pydantic.json_schema import models_json_schema

    _, definitions = models_json_schema(
        [(Error, "serialization")], ref_template="#/components/schemas/{model}"
    )
    return dict(definitions.get("$defs", {}))


def _reference(status: int) -> dict[str, Any]:
    return {
        "description": _MEANING[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _referenced(node: Any, name: str) -> bool:
    if isinstance(node, dict):
        if node.get("$ref") == f"#/components/schemas/{name}":
            return True
        return any(_referenced(v, name) for k, v in node.items() if k != "schemas")
    if isinstance(node, list):
        return any(_referenced(item, name) for item in node)
    return False
