"""ragops search API: vector search over each bot's documents (Milvus + PostgreSQL)."""

__version__ = "0.1.0"
