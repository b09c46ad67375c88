"""What tagd keeps on disk: `outbox` (every event, durable until the broker has it), `catalog` (the items of
the delivery lists, torn tags), `worklist` (each list as a shipment, each item's tagging state, in the
catalog), `report` (the shipment report as CSV or XLSX) and `delivery`/`delivery_columns` (reading a delivery
list, 図書原簿)."""
