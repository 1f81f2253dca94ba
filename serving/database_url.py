"""The database URL (``EARLYRISK_DATABASE_URL``): parsing only, no driver import.

Kept apart from :mod:`serving.store.connection` so settings and the CLI can check a URL without
loading psycopg.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def is_postgres(url: str | None) -> bool:
    """Whether ``url`` names a PostgreSQL database (else the SQLite files are used)."""
    return url is not None and urlsplit(url).scheme in {"postgresql", "postgres"}


def check_url(url: str) -> str:
    """The URL when it names a PostgreSQL database, else ValueError naming it."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgresql", "postgres"} or not parts.path.strip("/"):
        raise ValueError(
            f"database URL {redact(url)!r} is not a PostgreSQL URL with a database name; "
            "expected postgresql://user@host:port/dbname"
        )
    return url


def redact(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def mlflow_uri(url: str) -> str:
    """The SQLAlchemy URL MLflow needs for the same database, with the psycopg 3 driver.

    MLflow's store uses SQLAlchemy, whose bare ``postgresql://`` means psycopg2; naming the
    driver (``postgresql+psycopg://``) keeps one PostgreSQL driver in the project.
    """
    parts = urlsplit(check_url(url))
    return parts._replace(scheme="postgresql+psycopg").geturl()


def sqlalchemy_uri(uri: str) -> str:
    """A tracking URI as MLflow's SQLAlchemy needs it: a bare ``postgresql://`` (which
    SQLAlchemy reads as psycopg2, not installed) gets the psycopg 3 driver named; any
    other URI is returned unchanged."""
    if urlsplit(uri).scheme in {"postgresql", "postgres"}:
        return mlflow_uri(uri)
    return uri
