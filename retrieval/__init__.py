"""The index and everything that reads it: shared domain types, embedding, sparse terms, Qdrant adapters, search."""
