from ops_service.settings import OpsSettings
from servicekit.server import serve

serve("ops_service.main:create_app", OpsSettings(), name="ops-service")
