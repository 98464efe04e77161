from notification_service.settings import NotificationSettings
from servicekit.server import serve

serve("notification_service.main:create_app", NotificationSettings(), name="notification-service")
