"""What tests use in place of what cannot run in a unit test: in-memory fakes and the stub servers' helpers."""
