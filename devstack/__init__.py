"""The local stack without Docker: installs and supervises the real engines (PostgreSQL, Kafka in
KRaft mode, a Eureka server) and the platform's own processes. ``python -m devstack up``."""
