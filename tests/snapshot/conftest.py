"""The snapshot tests' fixtures (``tiny_snapshot``, ``snapshot_copy``) live in tests/conftest.py, shared
with the engine tests so the session builds one snapshot."""
