"""What tests stand up around the code under test: in-memory fakes (fakes.py), servers speaking real protocols
(openai_stub, slack_mock), real servers started for a test (llama_servers, redis_server, live_server), queue helpers."""
