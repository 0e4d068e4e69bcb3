"""The SQLite index of a work area's products (scripts/index_products.py, contimg-query)."""
