"""Categories on the in-memory fakes: slugs derived from names (accents folded, one hyphen between
words, none at the ends) or given, unique; changes announced, the slug never changed; a category
deleted only when no product, archived ones included, is in it; products joining only categories
that exist. Every refusal writes and announces nothing."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from contracts.events import CategoryCreated, CategoryDeleted, CategoryUpdated, ProductUpdated
from product_service.adapters.memory import InMemoryProductUnitOfWork, ProductStore
from product_service.application import commands
from product_service.domain.category import (
    SLUG_MAX_LENGTH,
    Category,
    CategoryChanges,
    is_slug,
    slug_of,
)
from product_service.domain.errors import (
    CategoryNotEmpty,
    CategoryNotFound,
    SlugTaken,
    SlugUnderivable,
    UnknownCategory,
)
from product_service.domain.product import ProductChanges
from servicekit.messaging.envelope import Event
from servicekit.messaging.unit_of_work import Cause

# -- slugs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Bebidas Quentes", "bebidas-quentes"),
        ("Açaí", "acai"),
        ("  Pão de Queijo  ", "pao-de-queijo"),
        ("Crème Brûlée", "creme-brulee"),
        ("Salgados & Doces", "salgados-doces"),
        ("Chá -- Gelado!!", "cha-gelado"),
        ("--Sucos--", "sucos"),
        ("Straße", "strasse"),
        ("Smørrebrød", "smorrebrod"),
        ("Œufs", "oeufs"),
        ("Łódź", "lodz"),
        ("ÆØÅ Ñandú", "aeoa-nandu"),
        ("Café ☕ Expresso", "cafe-expresso"),
        ("\uff26\uff35\uff2c\uff2c Width", "full-width"),  # full-width letters
        ("Ofﬁcina", "officina"),
        ("Pizza 2 Go", "pizza-2-go"),
        ("CAIXA_ALTA", "caixa-alta"),
        ("tabs\tand\nlines", "tabs-and-lines"),
    ],
)
def test_a_slug_is_the_name_in_lowercase_ascii_with_single_hyphens(name: str, slug: str) -> None:
    assert slug_of(name) == slug
    assert is_slug(slug)


@pytest.mark.parametrize("name", ["☕☕", "日本茶", "---", "  ", "", "!?."])
def test_a_name_without_ascii_letters_or_digits_has_no_slug(name: str) -> None:
    assert slug_of(name) == ""


def test_a_long_name_makes_a_slug_of_at_most_the_limit_and_never_ending_in_a_hyphen() -> None:
    slug = slug_of("a" * (SLUG_MAX_LENGTH - 1) + " bolo")
    assert slug == "a" * (SLUG_MAX_LENGTH - 1)  # cut at the hyphen, which is dropped
    assert is_slug(slug_of("Torta " * 40)) and len(slug_of("Torta " * 40)) <= SLUG_MAX_LENGTH


@pytest.mark.parametrize(
    "value",
    ["", "Bebidas", "bebidas quentes", "-bebidas", "bebidas-", "a--b", "açaí", "a_b", "x" * 101],
)
def test_what_is_no_slug(value: str) -> None:
    assert not is_slug(value)


# -- the category aggregate --------------------------------------------------------------------


def test_a_category_without_a_slug_gets_one_from_its_name_and_is_announced() -> None:
    category = Category.create(
        category_id="c-1", name="Bebidas Quentes", slug=None, description="Café, chá"
    )
    assert category.slug == "bebidas-quentes"
    assert category.events == [
        CategoryCreated(
            category_id="c-1",
            name="Bebidas Quentes",
            slug="bebidas-quentes",
            description="Café, chá",
        )
    ]


def test_a_given_slug_is_kept_as_given() -> None:
    category = Category.create(category_id="c-1", name="Açaí", slug="acai-bowls", description=None)
    assert category.slug == "acai-bowls"


def test_a_name_without_a_slug_in_it_is_refused_unless_a_slug_is_given() -> None:
    with pytest.raises(SlugUnderivable, match="give a slug"):
        Category.create(category_id="c-1", name="☕", slug=None, description=None)
    assert (
        Category.create(category_id="c-1", name="☕", slug="cafe", description=None).slug == "cafe"
    )


def test_changes_keep_the_slug_and_no_change_announces_nothing() -> None:
    category = Category.create(category_id="c-1", name="Bebidas", slug=None, description="x")
    category.events.clear()
    category.change(CategoryChanges())
    assert category.events == []
    category.change(CategoryChanges(name="Bebidas Geladas", description=None))
    assert (category.name, category.slug, category.description) == (
        "Bebidas Geladas",
        "bebidas",
        None,
    )
    assert category.events == [
        CategoryUpdated(category_id="c-1", name="Bebidas Geladas", slug="bebidas", description=None)
    ]


def test_a_category_with_products_is_not_deleted() -> None:
    category = Category(category_id="c-1", name="Bebidas", slug="bebidas", description=None)
    with pytest.raises(CategoryNotEmpty, match="'bebidas' is not empty: 2 product"):
        category.delete(products=2)
    assert category.events == []
    category.delete(products=0)
    assert category.events == [CategoryDeleted(category_id="c-1", slug="bebidas")]


# -- the commands on the fakes -----------------------------------------------------------------


class Catalog:
    def __init__(self) -> None:
        self.store = ProductStore()
        self.uows: list[InMemoryProductUnitOfWork] = []

    def unit_of_work(self) -> InMemoryProductUnitOfWork:
        uow = InMemoryProductUnitOfWork(self.store, Cause("corr-1"))
        self.uows.append(uow)
        return uow

    def category(self, name: str, slug: str | None = None) -> Category:
        with self.unit_of_work() as uow:
            return commands.create_category(commands.CreateCategory(name, slug, None), uow)

    def product(self, category_id: str | None = None) -> str:
        command = commands.CreateProduct(
            sku=f"SKU-{uuid.uuid4().hex[:8]}",
            name="Cup",
            description=None,
            price=Decimal("10"),
            currency="EUR",
            stock=5,
            category_id=category_id,
        )
        with self.unit_of_work() as uow:
            return commands.create_product(command, uow).product_id

    def delete(self, category_id: str) -> None:
        with self.unit_of_work() as uow:
            commands.delete_category(commands.DeleteCategory(category_id), uow)

    def published(self) -> list[Event]:
        return [event for uow in self.uows for event in uow.events()]


def test_a_created_category_is_stored_locked_and_announced() -> None:
    catalog = Catalog()
    category = catalog.category("Bebidas Quentes")
    assert catalog.store.categories[category.category_id].slug == "bebidas-quentes"
    assert [type(e) for e in catalog.published()] == [CategoryCreated]
    assert catalog.uows[-1].locks == [("category", category.category_id)]


@pytest.mark.parametrize(
    ("name", "slug"), [("Bebidas quentes", None), ("Outra", "bebidas-quentes")]
)
def test_a_slug_in_use_is_refused_and_nothing_is_written(name: str, slug: str | None) -> None:
    catalog = Catalog()
    catalog.category("Bebidas Quentes")
    with pytest.raises(SlugTaken, match="a category with slug 'bebidas-quentes' already exists"):
        catalog.category(name, slug)
    assert len(catalog.store.categories) == 1 and len(catalog.published()) == 1


def test_an_update_is_stored_and_announced_and_an_unknown_category_is_not_found() -> None:
    catalog = Catalog()
    category_id = catalog.category("Bebidas").category_id
    with catalog.unit_of_work() as uow:
        changes = CategoryChanges(name="Bebidas Frias", description="geladas")
        commands.update_category(commands.UpdateCategory(category_id, changes), uow)
    stored = catalog.store.categories[category_id]
    assert (stored.name, stored.slug, stored.description) == ("Bebidas Frias", "bebidas", "geladas")
    assert catalog.uows[-1].locks == [("category", category_id)]
    with pytest.raises(CategoryNotFound), catalog.unit_of_work() as uow:
        commands.update_category(
            commands.UpdateCategory(str(uuid.uuid4()), CategoryChanges(name="x")), uow
        )
    assert [type(e) for e in catalog.published()] == [CategoryCreated, CategoryUpdated]


def test_an_empty_category_is_deleted_and_announced() -> None:
    catalog = Catalog()
    category_id = catalog.category("Bebidas").category_id
    catalog.delete(category_id)
    assert catalog.store.categories == {}
    assert catalog.published()[-1] == CategoryDeleted(category_id=category_id, slug="bebidas")
    assert catalog.uows[-1].locks == [("category", category_id)]
    with pytest.raises(CategoryNotFound):
        catalog.delete(category_id)


def test_a_category_holding_a_product_even_an_archived_one_is_not_deleted() -> None:
    catalog = Catalog()
    category_id = catalog.category("Bebidas").category_id
    product_id = catalog.product(category_id)
    with catalog.unit_of_work() as uow:
        commands.archive_product(commands.ArchiveProduct(product_id), uow)
    published = len(catalog.published())
    with pytest.raises(CategoryNotEmpty, match="1 product"):
        catalog.delete(category_id)
    assert category_id in catalog.store.categories and len(catalog.published()) == published


def test_a_category_emptied_by_moving_its_product_out_can_be_deleted() -> None:
    catalog = Catalog()
    category_id = catalog.category("Bebidas").category_id
    product_id = catalog.product(category_id)
    with catalog.unit_of_work() as uow:
        commands.update_product(
            commands.UpdateProduct(product_id, ProductChanges(category_id=None), "admin"), uow
        )
    assert catalog.published()[-1] == ProductUpdated(
        product_id=product_id,
        sku=catalog.store.products[product_id].sku,
        name="Cup",
        price="10.00",
        currency="EUR",
        category_id=None,
    )
    catalog.delete(category_id)
    assert catalog.store.categories == {}


def test_a_product_joins_only_a_category_that_exists() -> None:
    catalog = Catalog()
    category_id = catalog.category("Bebidas").category_id
    product_id = catalog.product(category_id)
    assert catalog.store.products[product_id].category_id == category_id
    assert catalog.published()[-1].model_dump()["category_id"] == category_id
    ghost = str(uuid.uuid4())
    events = len(catalog.published())
    with pytest.raises(UnknownCategory, match=f"unknown category: {ghost}"):
        catalog.product(ghost)
    with pytest.raises(UnknownCategory), catalog.unit_of_work() as uow:
        commands.update_product(
            commands.UpdateProduct(product_id, ProductChanges(category_id=ghost), "admin"), uow
        )
    assert len(catalog.store.products) == 1 and len(catalog.published()) == events
    assert catalog.store.products[product_id].category_id == category_id
