"""The Slack bot: the real slack-bolt app through the real FastAPI app, with correctly signed requests, and a
local mock of Slack's Web API that records what the bot sends (Slack's servers cannot be reached from here)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import ExitStack
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient
from slack_sdk.signature import SignatureVerifier

from answer.answerer import Answerer, AnswerOptions
from retrieval.access import PUBLIC_ONLY, Principal
from retrieval.models import IndexSpec
from retrieval.qdrant_index import QdrantServerIndex
from retrieval.search import Retriever
from retrieval.sparse import SparseEncoder
from serve.app import create_app
from serve.slack import Principals, Seen, SlackBot, SlackUser, make_client, split_text, to_mrkdwn
from tests.conftest import SAMPLE_DOCS
from tests.integration.test_cli import docent_env
from tests.support.redis_server import RedisServer, free_port
from tests.support.slack_mock import BOT_USER, SlackMock
from tests.support.stores import feedback_store, key_store

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PRIVATE_FACT = "The Falcon acquisition closes on 14 March at a price of 212 million euros."


@pytest.fixture
def slack():
    with SlackMock() as mock:
        mock.emails = {"UANN": "ann@corp.com", "UBOB": "bob@corp.com"}
        yield mock


@pytest.fixture
def corpus(pipeline, tmp_path):
    private = tmp_path / "private"
    private.mkdir()
    (private / "falcon-deal.md").write_text(f"# Project Falcon\n\n{PRIVATE_FACT}\n")
    pipeline.run([SAMPLE_DOCS / "vpn-setup.md", SAMPLE_DOCS / "it-faq.html"], public=True)
    pipeline.run([private], acl=["user:ann@corp.com"])


def build(retriever, index, slack: SlackMock, tmp_path, **bot_args) -> tuple[TestClient, SlackBot, str]:
    client = make_client("xoxb-test", base_url=slack.url)
    bot = SlackBot(
        answerer=Answerer(retriever, None, AnswerOptions()),
        client=client,
        signing_secret=SECRET,
        principals=Principals(client, {}),
        feedback=feedback_store(tmp_path),
        source_url="https://files.corp.example{source}",
        **bot_args,
    )
    keys = key_store(tmp_path)
    admin, _ = keys.create("root", (), role="admin")
    app = create_app(retriever=retriever, index=index, keys=keys, slack=bot)
    return TestClient(app), bot, admin


def signed(body: str, *, secret: str = SECRET, timestamp: int | None = None, **headers: str) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, **headers}


def event(
    client: TestClient,
    kind: str,
    *,
    text: str,
    channel: str = "C1",
    user: str = "UANN",
    ts: str = "1.0001",
    event_id: str = "Ev1",
    thread_ts: str | None = None,
    channel_type: str = "channel",
    retry: int = 0,
):
    inner = {"type": kind, "user": user, "text": text, "channel": channel, "ts": ts, "channel_type": channel_type}
    if thread_ts:
        inner["thread_ts"] = thread_ts
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T1",
            "api_app_id": "A1",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": inner,
        }
    )
    extra = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
    return client.post(
        "/slack/events", content=body, headers={**signed(body, **extra), "Content-Type": "application/json"}
    )


def wait_posts(slack: SlackMock, method: str, count: int, timeout_s: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while len(slack.sent(method)) < count:
        assert time.monotonic() < deadline, f"expected {count} {method}, got {slack.calls}"
        time.sleep(0.05)
    time.sleep(0.5)  # anything more would arrive now
    return slack.sent(method)


def blocks_of(post: dict) -> list[dict]:
    blocks = post["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def text_of(post: dict) -> str:
    return json.dumps(blocks_of(post), ensure_ascii=False)


def test_a_mention_gets_one_threaded_answer_with_sources_and_buttons(corpus, retriever, edge_index, slack, tmp_path):
    client, _, _ = build(retriever, edge_index, slack, tmp_path)
    with client:
        started = time.monotonic()
        assert (
            event(client, "app_mention", text=f"<@{BOT_USER}> Which port does the VPN gateway use?").status_code == 200
        )
        assert time.monotonic() - started < 3  # acknowledged within Slack's 3 s, before the answer is written
        (post,) = wait_posts(slack, "chat.postMessage", 1)
    assert post["channel"] == "C1" and post["thread_ts"] == "1.0001"
    blocks = blocks_of(post)
    assert blocks[0]["type"] == "section" and "443" in blocks[0]["text"]["text"]
    sources = next(b for b in blocks if b["type"] == "context")["elements"][0]["text"]
    assert "[1] <https://files.corp.example" in sources and "vpn-setup.md|" in sources
    buttons = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert [b["action_id"] for b in buttons] == ["docent_vote_up", "docent_vote_down"]
    assert slack.sent("reactions.add")[0]["name"] == "eyes" and slack.sent("reactions.remove")  # working, then done


@pytest.mark.parametrize("shared", [False, True], ids=["memory", "redis"])
def test_retries_and_the_same_message_as_two_events_get_one_answer(
    corpus, retriever, edge_index, slack, tmp_path, shared
):
    if shared:  # two API replicas sharing Redis: the second delivery may reach the other one
        with RedisServer(tmp_path / "redis") as redis:
            bot_a = build(retriever, edge_index, slack, tmp_path, seen=Seen(redis_url=redis.url))[0]
            bot_b = build(retriever, edge_index, slack, tmp_path / "b", seen=Seen(redis_url=redis.url))[0]
            _deliver_four_times(bot_a, bot_b, slack)
    else:
        client = build(retriever, edge_index, slack, tmp_path)[0]
        _deliver_four_times(client, client, slack)


def _deliver_four_times(client, other, slack) -> None:
    text = f"<@{BOT_USER}> Which port does the VPN gateway use?"
    with ExitStack() as stack:
        for app in {id(client): client, id(other): other}.values():  # one app, or two replicas
            stack.enter_context(app)
        event(client, "app_mention", text=text, event_id="Ev1")
        event(other, "message", text=text, event_id="Ev2")  # the same message, delivered as `message` too
        event(client, "app_mention", text=text, event_id="Ev1", retry=1)  # Slack's retries
        event(other, "app_mention", text=text, event_id="Ev1", retry=2)
        posts = wait_posts(slack, "chat.postMessage", 1)
        time.sleep(1.0)
    assert len(slack.sent("chat.postMessage")) == len(posts) == 1


def test_channels_use_public_documents_and_direct_messages_the_askers_access(
    corpus, retriever, edge_index, slack, tmp_path
):
    client, _, _ = build(retriever, edge_index, slack, tmp_path)
    question = "When does the Falcon acquisition close and at what price?"
    with client:
        event(client, "app_mention", text=f"<@{BOT_USER}> {question}", channel="C1", ts="2.0001", event_id="EvC")
        (in_channel,) = wait_posts(slack, "chat.postMessage", 1)
        event(client, "message", text=question, channel="D1", channel_type="im", ts="2.0002", event_id="EvD")
        in_dm = wait_posts(slack, "chat.postMessage", 2)[1]
        event(
            client, "message", text=question, channel="D2", channel_type="im", user="UBOB", ts="2.0003", event_id="EvB"
        )
        bob = wait_posts(slack, "chat.postMessage", 3)[2]
    assert "212 million" not in text_of(in_channel) and "falcon-deal" not in text_of(in_channel)
    assert "couldn't find this in the documents" in text_of(in_channel)  # the honest not-found answer
    assert "212 million" in text_of(in_dm) and "falcon-deal.md" in text_of(in_dm)  # Ann may read it, in private
    assert "212 million" not in text_of(bob)  # Bob may not, even in a DM
    assert {c["user"] for c in slack.sent("users.info")} == {"UANN", "UBOB"}  # only DMs looked the user up


def test_a_follow_up_in_the_thread_uses_the_thread_as_conversation(corpus, retriever, edge_index, slack, tmp_path):
    client, _, _ = build(retriever, edge_index, slack, tmp_path)
    with client:
        event(client, "app_mention", text=f"<@{BOT_USER}> How do I connect to the VPN?", ts="3.0001", event_id="E1")
        (first,) = wait_posts(slack, "chat.postMessage", 1)
        slack.replies[("C1", "3.0001")] = [
            {"ts": "3.0001", "user": "UANN", "text": f"<@{BOT_USER}> How do I connect to the VPN?"},
            {"ts": "3.0002", "bot_id": "BBOT", "text": first["text"]},
            {"ts": "3.0003", "user": "UANN", "text": "and which port does it use?"},
        ]
        event(client, "message", text="and which port does it use?", ts="3.0003", thread_ts="3.0001", event_id="E2")
        second = wait_posts(slack, "chat.postMessage", 2)[1]
        event(client, "message", text="unrelated chatter", ts="4.0002", thread_ts="4.0001", event_id="E3")
        time.sleep(1.0)
    assert second["thread_ts"] == "3.0001" and "443" in text_of(second)
    assert slack.sent("conversations.replies")[0]["ts"] == "3.0001"
    assert len(slack.sent("chat.postMessage")) == 2  # a thread the bot is not in is left alone


def test_a_vote_is_stored_with_its_question_answer_and_sources(corpus, retriever, edge_index, slack, tmp_path):
    client, _, admin = build(retriever, edge_index, slack, tmp_path)
    with client:
        event(client, "app_mention", text=f"<@{BOT_USER}> Which port does the VPN gateway use?")
        (post,) = wait_posts(slack, "chat.postMessage", 1)
        answer_id = next(b for b in blocks_of(post) if b["type"] == "actions")["elements"][1]["value"]
        payload = {
            "type": "block_actions",
            "user": {"id": "UANN"},
            "channel": {"id": "C1"},
            "team": {"id": "T1"},
            "api_app_id": "A1",
            "trigger_id": "1.2",
            "container": {"type": "message", "message_ts": "9.9"},
            "actions": [
                {
                    "action_id": "docent_vote_down",
                    "value": answer_id,
                    "type": "button",
                    "block_id": "b1",
                    "action_ts": "1.3",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)})
        response = client.post(
            "/slack/interactions",
            content=body,
            headers={**signed(body), "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        wait_posts(slack, "chat.postEphemeral", 1)
        stored = client.get("/v1/feedback", headers={"Authorization": f"Bearer {admin}"}).json()["feedback"]
    (vote,) = stored
    assert (vote["vote"], vote["user"], vote["question"]) == ("down", "UANN", "Which port does the VPN gateway use?")
    assert vote["sources"][0]["source"].endswith("vpn-setup.md") and "443" in vote["answer"]

    report = subprocess.run(
        [sys.executable, "-m", "serve.cli", "eval", "--feedback", "--json"],
        env=docent_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    feedback = json.loads(report.stdout)
    assert feedback["summary"]["down"] == 1 and feedback["summary"]["helpful"] == 0.0
    assert feedback["review"][0]["question"] == vote["question"] and feedback["golden"] == []


def test_bad_signatures_and_stale_timestamps_are_401_before_any_listener(
    corpus, retriever, edge_index, slack, tmp_path
):
    client, _, _ = build(retriever, edge_index, slack, tmp_path)
    body = json.dumps(
        {
            "type": "event_callback",
            "event_id": "Ev9",
            "team_id": "T1",
            "event": {"type": "app_mention", "user": "UANN", "text": "hi", "channel": "C1", "ts": "1.1"},
        }
    )
    with client:
        forged = client.post("/slack/events", content=body, headers=signed(body, secret="not-the-secret"))
        stale = client.post("/slack/events", content=body, headers=signed(body, timestamp=int(time.time()) - 600))
        unsigned = client.post("/slack/events", content=body)
        time.sleep(0.5)
    assert forged.status_code == stale.status_code == unsigned.status_code == 401
    assert not slack.calls  # not even auth.test


def test_a_rate_limited_post_is_retried_after_retry_after(corpus, retriever, edge_index, slack, tmp_path):
    slack.rate_limit["chat.postMessage"] = 1
    client, _, _ = build(retriever, edge_index, slack, tmp_path)
    with client:
        started = time.monotonic()
        event(client, "app_mention", text=f"<@{BOT_USER}> Which port does the VPN gateway use?")
        posts = wait_posts(slack, "chat.postMessage", 2)
    assert len(posts) == 2 and posts[0] == posts[1]  # the 429, then the same message delivered
    assert time.monotonic() - started >= 1.0  # after waiting out Retry-After


def test_the_slash_command_answers_privately_with_the_askers_access(corpus, retriever, edge_index, slack, tmp_path):
    client, _, _ = build(retriever, edge_index, slack, tmp_path)
    body = urlencode(
        {
            "command": "/ask",
            "text": "When does the Falcon acquisition close?",
            "user_id": "UANN",
            "channel_id": "C1",
            "team_id": "T1",
            "response_url": "https://hooks.invalid/x",
            "trigger_id": "1.1",
        }
    )
    with client:
        response = client.post(
            "/slack/commands",
            content=body,
            headers={**signed(body), "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200 and "Looking up" in response.text  # acknowledged at once
        (reply,) = wait_posts(slack, "chat.postEphemeral", 1)
    assert reply["user"] == "UANN" and "212 million" in text_of(reply)
    assert not slack.sent("chat.postMessage")


def test_a_docent_error_becomes_a_short_friendly_message(embedder, slack, tmp_path):
    down = QdrantServerIndex(IndexSpec("docent", embedder.name, embedder.dimension), timeout_s=1)
    down._client = QdrantClient(url=f"http://127.0.0.1:{free_port()}", timeout=1)
    client, _, _ = build(Retriever(down, embedder, SparseEncoder()), down, slack, tmp_path)
    with client:
        event(client, "app_mention", text=f"<@{BOT_USER}> Which port does the VPN gateway use?")
        (post,) = wait_posts(slack, "chat.postMessage", 1)
    assert post["text"].startswith("Sorry, I can't answer right now") and post["thread_ts"] == "1.0001"


def test_long_answers_are_split_within_slacks_limits():
    text = "\n\n".join(f"Paragraph {n}. " + "word " * 200 for n in range(12))
    pieces = split_text(text, 2900)
    assert len(pieces) > 3 and all(len(p) <= 2900 for p in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())  # nothing lost
    assert (
        to_mrkdwn("**Port** 443, see [the guide](https://x.example/vpn)")
        == "*Port* 443, see <https://x.example/vpn|the guide>"
    )


def test_slack_users_map_to_principals_by_id_or_email(slack):
    slack.emails["UANN"] = "Ann@Corp.com"
    principals = Principals(
        make_client("xoxb-test", base_url=slack.url),
        {"ann@corp.com": SlackUser("ann", ("group:finance",)), "UCEO": SlackUser("ceo", ("group:board",))},
    )
    assert principals.of("UANN") == Principal("ann", ("group:finance",))  # by e-mail, case-insensitively
    assert principals.of("UBOB") == Principal("bob@corp.com")  # not mapped: the e-mail, no groups
    assert principals.of("UCEO") == Principal("ceo", ("group:board",))  # by Slack id, without a lookup
    assert principals.of("UNOBODY") == PUBLIC_ONLY  # no e-mail: public documents only
    principals.of("UANN")
    assert [c["user"] for c in slack.sent("users.info")] == ["UANN", "UBOB", "UNOBODY"]  # cached


def test_the_bot_is_built_from_settings(retriever, tmp_path):
    from retrieval.errors import ConfigError
    from serve.components import make_slack_bot
    from serve.settings import Settings

    answerer, feedback = Answerer(retriever, None, AnswerOptions()), feedback_store(tmp_path)
    settings = Settings(
        _env_file=None,
        slack={
            "bot_token": "xoxb-1",
            "signing_secret": SECRET,
            "api_url": "http://127.0.0.1:9/api/",
            "users": {"Ann@Corp.com": {"user": "ann", "groups": ["group:hr"]}},
        },
    )
    bot = make_slack_bot(settings, answerer, feedback)
    assert bot.client.base_url == "http://127.0.0.1:9/api/" and "ann@corp.com" in bot.principals.mapping
    assert "xoxb-1" not in repr(settings)  # secrets stay secret
    with pytest.raises(ConfigError):
        make_slack_bot(Settings(_env_file=None, slack={"bot_token": "xoxb-1"}), answerer, feedback)
    assert (
        make_slack_bot(
            Settings(_env_file=None, slack={"bot_token": "xoxb-1"}), answerer, feedback, socket_mode=True
        ).app
        is not None
    )


def test_slack_answers_are_in_the_audit_trail_with_what_each_user_was_shown(
    corpus, retriever, edge_index, slack, tmp_path
):
    from serve.audit import AuditLog
    from serve.stores.audit import AuditStore
    from tests.support.stores import database

    audit = AuditLog(AuditStore(database(tmp_path)), interval_s=0.05)
    audit.start()
    client, _, _ = build(retriever, edge_index, slack, tmp_path, audit=audit)
    question = "When does the Falcon acquisition close and at what price?"
    with client:
        event(client, "message", text=question, channel="D1", channel_type="im", ts="9.0001", event_id="EvA")
        wait_posts(slack, "chat.postMessage", 1)
        event(client, "app_mention", text=f"<@{BOT_USER}> {question}", channel="C1", ts="9.0002", event_id="EvC")
        wait_posts(slack, "chat.postMessage", 2)
    assert audit.flush(10)
    audit.close()
    in_channel, in_dm = audit.store.query()
    assert (in_dm.user_id, in_dm.channel, in_dm.query, in_dm.action) == ("UANN", "slack:D1", question, "answer")
    falcon = {doc for doc, title in in_dm.documents if "falcon" in title.lower()}
    assert falcon  # Ann may read it, in private
    assert in_channel.channel == "slack:C1" and not falcon & {doc for doc, _ in in_channel.documents}
    assert in_channel.detail == '{"access": "public documents only"}'
