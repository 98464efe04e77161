"""ops_service: the operators' API (an order's trace through Kafka and the inboxes, dead letters
and their replay), admin only, behind the gateway at /api/ops."""
