"""The service's state: every table, store and connection in one package."""
