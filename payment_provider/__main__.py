from payment_provider.settings import ProviderSettings
from servicekit.server import serve

serve("payment_provider.main:create_app", ProviderSettings(), name="payment-provider")
