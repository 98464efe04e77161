"""Categories of the catalog and their slugs. Pure Python: no framework, database or broker here.

A category's slug is its name in URLs (``GET /api/products?category=bebidas-quentes``): lowercase
ASCII letters and digits in runs joined by single hyphens. It is given, or derived from the name
once, when the category is made, and never changes: links that name it keep working when the
category is renamed. What a category's changes mean for others is recorded as event objects of the
catalog (``contracts.events``) in ``events``; the unit of work publishes them with the change.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import ClassVar

from contracts.events import CategoryCreated, CategoryDeleted, CategoryUpdated
from product_service.domain.errors import CategoryNotEmpty, SlugUnderivable
from product_service.domain.product import KEEP, Keep
from servicekit.messaging.envelope import Event

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
SLUG_MAX_LENGTH = 100

# Latin letters that Unicode does not decompose into a base letter and a mark (ß is handled by
# casefold, which spells it "ss"); U+0131 is the dotless i.
_FOLDED_LETTERS = str.maketrans(
    {"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i"}
)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug_of(name: str) -> str:
    """The slug of a name: accents folded, runs of anything else one hyphen, at most
    SLUG_MAX_LENGTH characters; "Bebidas Quentes" -> "bebidas-quentes", "Açaí" -> "acai".
    Empty when the name has no letter or digit that folds to ASCII."""
    folded = unicodedata.normalize("NFKD", name.casefold().translate(_FOLDED_LETTERS))
    ascii_only = folded.encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", ascii_only).strip("-")
    return slug[:SLUG_MAX_LENGTH].rstrip("-")


def is_slug(value: str) -> bool:
    """True for what a slug looks like: ``^[a-z0-9]+(-[a-z0-9]+)*$``, SLUG_MAX_LENGTH at most."""
    return len(value) <= SLUG_MAX_LENGTH and re.fullmatch(SLUG_PATTERN, value) is not None


@dataclass(frozen=True, slots=True)
class CategoryChanges:
    """What an admin changes in a category; fields left at KEEP stay as they are. The slug is
    not among them: it never changes."""

    name: str | Keep = KEEP
    description: str | Keep | None = KEEP

    @property
    def given(self) -> list[str]:
        """The names of the fields that change, sorted."""
        values = {"description": self.description, "name": self.name}
        return [name for name, value in values.items() if value is not KEEP]

    @property
    def empty(self) -> bool:
        """Nothing to change."""
        return not self.given


@dataclass
class Category:
    """A category of the catalog, and the events its changes recorded."""

    aggregate_type: ClassVar[str] = CategoryCreated.aggregate_type  # "category", its lock's name

    category_id: str
    name: str
    slug: str
    description: str | None
    events: list[Event] = field(default_factory=list)

    @classmethod
    def create(
        cls, *, category_id: str, name: str, slug: str | None, description: str | None
    ) -> Category:
        """A new category, its slug the one given or derived from ``name``, announced as
        category.created. SlugUnderivable when none is given and the name yields none."""
        if slug is None:
            slug = slug_of(name)
            if not slug:
                raise SlugUnderivable(name)
        elif not is_slug(slug):
            raise ValueError(f"{slug!r} is not a slug")  # the API refuses it first (422)
        category = cls(category_id, name, slug, description)
        category.events.append(CategoryCreated(**category._announced()))
        return category

    def change(self, changes: CategoryChanges) -> None:
        """Apply an admin's changes, announced as category.updated (nothing when there are
        none)."""
        if changes.empty:
            return
        if not isinstance(changes.name, Keep):
            self.name = changes.name
        if not isinstance(changes.description, Keep):
            self.description = changes.description
        self.events.append(CategoryUpdated(**self._announced()))

    def delete(self, *, products: int) -> None:
        """Announce the category's deletion (category.deleted); CategoryNotEmpty while any
        product, archived ones included, is in it."""
        if products:
            raise CategoryNotEmpty(self.slug, products)
        self.events.append(CategoryDeleted(category_id=self.category_id, slug=self.slug))

    def _announced(self) -> dict[str, str | None]:
        """The category as the order service's read model needs it."""
        return {
            "category_id": self.category_id,
            "name": self.name,
            "slug": self.slug,
            "description": self.description,
        }
