"""notification_service: an email per registration and per finished order, sent over SMTP by a
retrying sender loop, never inside a database transaction."""
