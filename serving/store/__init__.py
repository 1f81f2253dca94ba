"""The service's state, in one room: every table, every store, one connection layer.

Layout
------
- :mod:`~serving.store.migrations`: every table's ``CREATE``, as an ordered list of
  migrations per store and dialect; ``earlyrisk db upgrade`` applies what is missing. A
  test fails if a table is declared anywhere else.
- :mod:`~serving.store.connection`: :class:`~serving.store.connection.Database` (a SQLite
  file or the PostgreSQL database of ``EARLYRISK_DATABASE_URL``) and its
  :class:`~serving.store.connection.Dialect` (placeholders, float type, how a writer
  locks, the additive upsert). Stores never subclass per backend.
- One ``typing.Protocol`` and one implementation per store: tokens
  (:mod:`~serving.store.tokens`), security log (:mod:`~serving.store.security_log`),
  lookup (:mod:`~serving.store.lookup`), served statistics
  (:mod:`~serving.store.served_stats`), and the snapshot-derived region and audit-group
  indexes (:mod:`~serving.store.regions`, :mod:`~serving.store.side_index`).
- :func:`serving.store.stores.open_stores`: the one place the service, the review page and
  the CLIs open their stores; with ``EARLYRISK_DATABASE_URL`` set, all of them are in
  PostgreSQL.

Opening a store
---------------
A store calls :func:`~serving.store.migrations.ensure` when it opens: a new, empty
database gets the store's tables from the migrations; a database whose schema is behind
is refused with a message naming ``earlyrisk db upgrade``. Nothing else creates or alters
a table at open.

Concurrency policy (every store)
--------------------------------
- **One connection per thread**, opened on first use by
  :meth:`~serving.store.connection.Database.read` and closed for every thread by
  :meth:`~serving.store.connection.Database.close`. No store shares a connection between
  threads, and no store holds a lock of its own around its connection.
- **Writes are short transactions** (:meth:`~serving.store.connection.Database.write`):
  SQLite ``BEGIN IMMEDIATE`` takes the file's write lock at once and waits up to the busy
  timeout (``EARLYRISK_AUDIT_BUSY_TIMEOUT_MS``) for another writer; files are in WAL mode,
  so readers never wait for a writer. PostgreSQL runs the same block as one transaction on
  the thread's connection, with a transaction-scoped advisory lock where writers of every
  replica must queue (schema changes, snapshot loads, audit appends).
- **Reads** are single statements on the thread's connection (autocommit).
- **Failure** to reach the database (server down, file locked past the timeout, deleted,
  unwritable) is :class:`~serving.store.connection.DatabaseUnavailable`; the next call
  reconnects. A SQLite file replaced under a running store is reopened at the next call; a
  deleted one is not recreated.

The audit log (``serving/audit_log*.py``) keeps its own append path under the same rules;
it is moved here by its own change.

Import the submodules (``from serving.store.tokens import SqlTokenStore``): this package
imports nothing itself, so :mod:`serving.database_url` stays free of any driver.
"""
