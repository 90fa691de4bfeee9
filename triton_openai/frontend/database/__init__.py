"""The database server that several frontends share (PostgreSQL): pool, outages, migrations."""
