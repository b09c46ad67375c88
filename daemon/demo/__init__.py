"""`tagd demo` (what `make run` starts): `runner` (embedded broker, the demo stations, the live feed),
`day` (the scripted day), `desk` (DemoClient: the day's MQTT client, as staff and circulation), `broker`."""
