"""The key-value model (Amazon DynamoDB, or moto's emulation of its API); see schema.py and backend.py."""
