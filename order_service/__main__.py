from order_service.settings import OrderSettings
from servicekit.server import serve

serve("order_service.main:create_app", OrderSettings(), name="order-service")
