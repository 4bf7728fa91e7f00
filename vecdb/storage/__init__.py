"""Durable state: the directory lock, DuckDB tables, index checkpoints and vector stores."""
