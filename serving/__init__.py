"""The caseworker scoring service: explained, logged, access-controlled risk scores."""
