"""What the server keeps between requests: API keys and answer feedback in SQLite under the data folder, and the
rate limits' buckets in memory. Each store has its own module; none imports the HTTP layer."""
