"""PostgreSQL access: a thin connector over a psycopg pool, named SQL, migrations, embedded server.

Import from the submodules (``orchestrator.store.database``, ``.queries``, ``.errors``,
``.migrator``, ``.embedded``); this package module stays empty so importing one part does not
load the others (``embedded`` pulls in pgserver).
"""
