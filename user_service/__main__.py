from servicekit.server import serve
from user_service.settings import UserSettings

serve("user_service.main:create_app", UserSettings(), name="user-service")
