"""The event catalog as an AsyncAPI 3.0 document (docs/asyncapi.yaml), generated from the code.

    python -m devstack.asyncapi           # writes docs/asyncapi.yaml
    python -m devstack.asyncapi --check   # exit status 1 if docs/asyncapi.yaml is out of date

Every fact comes from one place in the code: the events, their versions, aggregates, keys and
payload schemas from ``contracts.events.CATALOG``; the producer of each topic from
``contracts.events.AGGREGATE_OWNERS``; the consumer groups and what they read from each
service's ``consumers.py`` (``SUBSCRIPTIONS``); the envelope and Kafka headers from
:mod:`devstack.asyncapi.wire`, which tests/devstack/unit/test_asyncapi.py holds to what the relay
and the inbox consumer really send. The same test fails when the committed document differs.
"""
