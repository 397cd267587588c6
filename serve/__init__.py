"""The application: settings, the command line, and (later) the HTTP API."""
