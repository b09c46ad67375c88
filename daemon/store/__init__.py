"""What tagd keeps on disk: `outbox` (every event, durable until the broker has it), `catalog` (the items of
the delivery lists, torn tags) and `delivery`/`delivery_columns` (reading a delivery list, 図書原簿)."""
