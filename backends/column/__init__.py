"""The column-family model (Apache Cassandra); see backend.py and schema.py."""
