"""payment_service: one payment per order, authorized on stock.reserved, refunded or voided when
the order is cancelled or rejected."""
