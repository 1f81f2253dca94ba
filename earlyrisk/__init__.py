"""earlyrisk: early, fair, explained risk detection for family social services."""

__version__ = "0.1.0"
