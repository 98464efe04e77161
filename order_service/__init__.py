"""order_service: orders and the choreographed saga that carries them to a terminal state."""
