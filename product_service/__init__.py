"""product_service: the catalog, and the stock that orders reserve, commit and release."""
