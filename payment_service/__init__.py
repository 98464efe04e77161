"""payment_service: one payment per order. A card is authorized on stock.reserved; pix is paid
later through the payment provider (a QR code, then its signed webhook). Refunded, voided or
withdrawn when the order is cancelled or rejected."""
