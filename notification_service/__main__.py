from notification_service.settings import NotificationSettings
from servicekit.serve import serve

serve("notification_service.main:create_app", NotificationSettings(), name="notification-service")
