"""Documents to chunks to index writes: discovery, parsing, chunking and the ingestion pipeline."""
