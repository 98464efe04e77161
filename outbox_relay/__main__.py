from outbox_relay.main import main

main()
