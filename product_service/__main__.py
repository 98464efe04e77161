from product_service.settings import ProductSettings
from servicekit.server import serve

serve("product_service.main:create_app", ProductSettings(), name="product-service")
