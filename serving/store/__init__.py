"""The service's state in one room: every store, its schema and its connection layer."""
