"""MQTT: `client` (the aiomqtt client, with PUBACK reason codes), `link` (one per station: the outbox to the
broker, status and will, replies) and `router` (commands, sim/ and the holds feed to their handlers)."""
