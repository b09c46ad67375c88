"""Shipped configuration: tag profiles, the example and the demo (read with importlib.resources)."""
