"""Metadata database: SQLAlchemy 2.0 models, engine and sessions, Alembic migrations, and Fernet
encryption of connection and variable secrets.

SQLite (WAL) and PostgreSQL (psycopg 3) are both first-class. This package knows nothing about
DAG files or HTTP.
"""
