from payment_service.settings import PaymentSettings
from servicekit.server import serve

serve("payment_service.main:create_app", PaymentSettings(), name="payment-service")
