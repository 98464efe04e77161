"""user_service: customer profiles, created from account.registered events."""
