from order_service.settings import OrderSettings
from servicekit.serve import serve

serve("order_service.main:create_app", OrderSettings(), name="order-service")
