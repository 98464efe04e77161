"""The pix BR Code payload builder and its CRC, against examples Banco Central do Brasil
published, not against our own output."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payment_provider.domain.brcode import (
    BrCodeError,
    crc16,
    has_valid_crc,
    parse_fields,
    static_pix_payload,
)

# The static "copia e cola" example of Banco Central do Brasil's "Manual de Padrões para
# Iniciação do Pix" (Regulamento Pix, annex on the BR Code; the example of a static QR code,
# pix key 123e4567-e12b-12d1-a456-426655440000, "Fulano de Tal", BRASILIA, CRC 1D3D):
# https://www.bcb.gov.br/content/estabilidadefinanceira/pix/Regulamento_Pix/II_ManualdePadroesparaIniciacaodoPix.pdf
BCB_MANUAL_STATIC = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)

# "pixCopiaECola" examples of the Pix API that Banco Central do Brasil publishes
# (https://github.com/bacen/pix-api, openapi.yaml, release 2.9.0): recurring-payment payloads
# with a field 80 and dynamic ones with a URL in 26/25. They check the CRC over payloads that
# we do not build.
BCB_PIX_API_EXAMPLES = [
    "00020126180014br.gov.bcb.pix5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***"
    "80800014br.gov.bcb.pix2558pix.example.com/qr/v2/rec/2353c790eefb11eaadc10242ac120002"
    "630462C9",
    "00020101021226760014br.gov.bcb.pix2554pix.example.com/qr/v2/8b3da2f39a4140d1a91abd93113bd441"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***"
    "80800014br.gov.bcb.pix2558pix.example.com/qr/v2/rec/94ed2badcbc04c15b0bb7fa353194890"
    "63047741",
    "00020101021226810014br.gov.bcb.pix2559pix.example.com/qr/v2/cobv/1e6c54d3ec9449b7a7fc53b6b0f998e7"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***"
    "80800014br.gov.bcb.pix2558pix.example.com/qr/v2/rec/3ffa640fa4f14080adccb949fa2dc0d0"
    "6304A441",
]


def test_crc16_check_value_of_the_crc_catalogue() -> None:
    # CRC-16/CCITT-FALSE (CRC-16/IBM-3740 in Greg Cook's "Catalogue of parametrised CRC
    # algorithms"): check value 0x29B1 for the ASCII string "123456789".
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF


def test_crc16_of_the_manual_example_covers_the_6304_before_it() -> None:
    assert crc16(BCB_MANUAL_STATIC[:-4].encode()) == 0x1D3D
    # Computing it without "6304" (a common mistake) gives something else.
    assert crc16(BCB_MANUAL_STATIC[:-8].encode()) != 0x1D3D


@pytest.mark.parametrize("payload", BCB_PIX_API_EXAMPLES)
def test_crc_of_the_pix_api_examples(payload: str) -> None:
    assert has_valid_crc(payload)


def test_static_payload_is_the_manual_example() -> None:
    payload = static_pix_payload(
        pix_key="123e4567-e12b-12d1-a456-426655440000",
        merchant_name="Fulano de Tal",
        merchant_city="BRASILIA",
    )
    assert payload == BCB_MANUAL_STATIC


def test_payload_with_amount_and_txid() -> None:
    payload = static_pix_payload(
        pix_key="123e4567-e12b-12d1-a456-426655440000",
        merchant_name="Fulano de Tal",
        merchant_city="BRASILIA",
        amount=Decimal("1234.5"),
        txid="7d9f0335a3c44b7f",
    )
    fields = parse_fields(payload)
    assert list(fields) == ["00", "26", "52", "53", "54", "58", "59", "60", "62", "63"]
    assert fields["54"] == "1234.50"
    assert fields["53"] == "986"
    assert parse_fields(fields["26"]) == {
        "00": "br.gov.bcb.pix",
        "01": "123e4567-e12b-12d1-a456-426655440000",
    }
    assert parse_fields(fields["62"]) == {"05": "7d9f0335a3c44b7f"}
    assert has_valid_crc(payload)
    # Everything but the amount and the txid is the manual's example, field for field.
    manual = parse_fields(BCB_MANUAL_STATIC)
    assert {k: v for k, v in fields.items() if k not in ("54", "62", "63")} == {
        k: v for k, v in manual.items() if k not in ("62", "63")
    }


def test_any_changed_character_breaks_the_crc() -> None:
    tampered = BCB_MANUAL_STATIC.replace("Fulano", "Fulana")
    assert not has_valid_crc(tampered)
    assert not has_valid_crc(BCB_MANUAL_STATIC[:-8])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"merchant_name": "A" * 26}, "merchant name"),
        ({"merchant_city": "São Paulo"}, "merchant city"),
        ({"merchant_city": ""}, "merchant city"),
        ({"pix_key": "k" * 78}, "pix key"),
        ({"amount": Decimal("10.001")}, "two decimal places"),
        ({"amount": Decimal("0")}, "positive"),
        ({"amount": Decimal("10000000000.00")}, "below"),
        ({"txid": "order-42"}, "txid"),
        ({"txid": "A" * 26}, "txid"),
    ],
)
def test_values_a_field_cannot_carry_are_refused(changes: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "pix_key": "123e4567-e12b-12d1-a456-426655440000",
        "merchant_name": "Fulano de Tal",
        "merchant_city": "BRASILIA",
        **changes,
    }
    with pytest.raises(BrCodeError, match=message):
        static_pix_payload(**arguments)


def test_largest_amount_fits_in_thirteen_characters() -> None:
    payload = static_pix_payload(
        pix_key="k", merchant_name="N", merchant_city="C", amount=Decimal("9999999999.99")
    )
    assert parse_fields(payload)["54"] == "9999999999.99"
