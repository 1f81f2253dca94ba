"""Raw-data contract, synthetic registry, validation and point-in-time family indicators."""
