"""Label sheets as PDF: NW-7 barcode labels (barcode_sheet) and spine labels (spine_rules, spine_sheet),
on the sheet layouts of config/label-sheets.toml (sheets); contrast says whether a colour scans in red light.
"""
