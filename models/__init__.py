"""The domain: entities, data sets, the query catalog and its reference answers.

`models` imports no database driver and measures nothing.
"""
