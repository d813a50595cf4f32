"""The graph model (Neo4j 5); see schema.py for the graph and backend.py for the queries."""
