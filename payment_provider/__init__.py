"""A stand-in payment service provider for pix: charges with QR codes, signed webhooks."""
