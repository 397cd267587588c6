"""The HTTP API's parts: one module per concern, composed by `serve.app.create_app`."""
