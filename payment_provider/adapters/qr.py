"""QR images of pix payloads, drawn by segno."""

from __future__ import annotations

import segno


def png_data_url(payload: str) -> str:
    """A ``data:image/png;base64,...`` URL of a QR code carrying ``payload``.

    Error correction at least level M (15% of the symbol may be damaged; segno raises it when
    that costs no size), 4-pixel modules, the standard 4-module quiet zone: readable from a
    screen by a phone's camera.
    """
    qr = segno.make(payload, error="m", micro=False)
    return str(qr.png_data_uri(scale=4, border=4))
