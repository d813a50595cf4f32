"""The document model (MongoDB); see backend.py for the design, schema.py and queries.py."""
