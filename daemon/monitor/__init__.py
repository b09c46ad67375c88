"""`tagd monitor`: `follow` (subscribe, reconnect) and `render` (an event as a line staff can read)."""
