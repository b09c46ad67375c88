"""The service: config, stations, holds, outbox, MQTT and the command line."""
