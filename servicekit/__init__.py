"""The building blocks every service shares: settings, logging, database, and the messaging core
(event envelope, transactional outbox, idempotent inbox consumer, Kafka wiring)."""
