"""The Slack bot: ask the knowledge base by @mention, direct message or `/ask`, answered in the thread.

One slack-bolt `App`, served two ways: mounted on the FastAPI app (`/slack/events`, `/slack/interactions`,
`/slack/commands`; Bolt verifies Slack's signature and timestamp and answers 401 before any listener runs) or
over Socket Mode (`docent slack`, no public URL). Bolt acknowledges within Slack's 3 seconds and runs the
listener afterwards; the bot marks the question with 👀 while it works, answers in the thread with Block Kit
(the answer in mrkdwn, numbered sources, 👍/👎 buttons) and removes the mark.

Permissions (the rule Onyx follows): in a DM, or in a reply only the asker sees (`/ask`), the bot searches with
the asking user's own access; anywhere else — public, private and shared channels — it uses only documents
visible to everyone (public documents), because everyone in the channel reads the answer. A Slack user maps
to a principal through the configured mapping (by Slack id or e-mail), else by the e-mail of `users.info`.

Slack delivers some events more than once (its retries, `X-Slack-Retry-Num`, and a mention arriving both as
`app_mention` and `message`): each is answered once, keyed on the event id and on channel + timestamp.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from markdown_it import MarkdownIt
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slackify_markdown import slackify_markdown

from answer.answerer import Answer, Answerer, AnswerMode, AskRequest
from answer.generation import ChatMessage
from retrieval.access import PUBLIC_ONLY, Access, Principal
from retrieval.errors import DocentError
from serve.api.auditing import Audit
from serve.audit import AuditLog
from serve.presenting import SLACK, sources_block
from serve.stores.audit import AuditEvent
from serve.stores.feedback import FeedbackStore

log = logging.getLogger(__name__)

SECTION_LIMIT = 2900  # Slack allows 3,000 characters in a section's text
BLOCKS_PER_MESSAGE = 45  # of Slack's 50
HISTORY_TURNS = 6
WORKING = "eyes"
_MENTION = re.compile(r"<@[A-Z0-9]+>")
_MARKDOWN = MarkdownIt("commonmark").enable("table")


@dataclass(frozen=True, slots=True)
class SlackUser:
    """Who a Slack user is in Docent's ACLs (configured per Slack id or e-mail)."""

    user: str
    groups: tuple[str, ...] = ()


def make_client(token: str, *, base_url: str | None = None, retries: int = 3) -> WebClient:
    """A Web API client that retries rate limits (honouring Retry-After), server errors and dropped connections."""
    client = WebClient(token=token, base_url=base_url or WebClient.BASE_URL, timeout=15)
    client.retry_handlers.extend(
        [
            RateLimitErrorRetryHandler(max_retry_count=retries),
            ServerErrorRetryHandler(max_retry_count=retries),
            ConnectionErrorRetryHandler(max_retry_count=retries),
        ]
    )
    return client


class Principals:
    """Slack user id -> principal, cached: the mapping first (by id, then by e-mail), else the profile e-mail."""

    def __init__(self, client: WebClient, mapping: Mapping[str, SlackUser], *, ttl_s: float = 600) -> None:
        self.client = client
        self.mapping = dict(mapping)
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[Principal, float]] = {}

    def of(self, slack_user: str) -> Principal:
        cached = self._cache.get(slack_user)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        entry = self.mapping.get(slack_user)
        if entry is None:
            profile = self.client.users_info(user=slack_user)["user"].get("profile", {})
            email = (profile.get("email") or "").lower()
            entry = self.mapping.get(email) or (SlackUser(email) if email else None)
        principal = Principal(entry.user, entry.groups) if entry else PUBLIC_ONLY
        self._cache[slack_user] = (principal, time.monotonic() + self.ttl_s)
        return principal


class Seen:
    """Keys taken in the last `ttl_s` seconds: the first caller of `first(...)` with any new key wins.

    In this process's memory, or in Redis (`redis_url`) so that several API replicas answer an event once."""

    def __init__(self, ttl_s: float = 600, *, redis_url: str | None = None) -> None:
        self.ttl_s = ttl_s
        self._keys: dict[str, float] = {}
        self._lock = threading.Lock()
        self._redis = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)

    def first(self, *keys: str) -> bool:
        if self._redis is not None:
            try:
                taken = [self._redis.set(f"docent:slack:{key}", 1, nx=True, ex=int(self.ttl_s)) for key in keys]
                return all(taken)
            except Exception as exc:
                log.warning("slack dedupe in Redis failed error=%s; using memory", exc)
        now = time.monotonic()
        with self._lock:
            if len(self._keys) > 10_000:
                self._keys = {k: t for k, t in self._keys.items() if t > now}
            if any(self._keys.get(k, 0) > now for k in keys):
                return False
            for key in keys:
                self._keys[key] = now + self.ttl_s
            return True

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return self._keys.get(key, 0) > time.monotonic()


def to_mrkdwn(text: str) -> str:
    """Markdown as the model writes it -> Slack mrkdwn, through slackify-markdown, which renders a CommonMark
    parse: bold, italics, strike-through, headings, lists, links (a URL may hold parentheses), code left as
    written, and &, < and > escaped. Slack has no tables, so a table is shown as a code block, as written.

    The converter passes Slack's own `<!channel>`, `<@U…>` and `<#C…>` through; an answer (or a document it
    quotes) must never notify a channel or a person, so those are escaped into plain text."""
    return _SPECIAL.sub(r"&lt;\1&gt;", slackify_markdown(_tables_as_code(text))).rstrip("\n")


_SPECIAL = re.compile(r"<([!@#][^<>]*)>")  # Slack's mentions and broadcasts: <!here>, <@U123>, <#C123|general>


def _tables_as_code(text: str) -> str:
    """`text` with each top-level GFM table fenced as a code block (markdown-it-py finds the tables' lines)."""
    lines = text.split("\n")
    tables = [token.map for token in _MARKDOWN.parse(text) if token.type == "table_open" and token.level == 0]
    for start, end in reversed([span for span in tables if span]):
        lines[start:end] = ["```", *lines[start:end], "```"]
    return "\n".join(lines)


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at paragraph, then line, then sentence ends, then anywhere."""
    pieces = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(". "), window.rfind("。"))
        cut = cut + 1 if cut > limit // 3 else limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*pieces, text] if text else pieces


class SlackBot:
    def __init__(
        self,
        *,
        answerer: Answerer,
        client: WebClient,
        signing_secret: str,
        principals: Principals,
        feedback: FeedbackStore,
        source_url: str = "",
        seen: Seen | None = None,
        verify_requests: bool = True,
        audit: AuditLog | None = None,
    ) -> None:
        """`verify_requests=False` only for Socket Mode, where no HTTP request reaches the bot."""
        self.answerer = answerer
        self.client = client
        self.principals = principals
        self.feedback = feedback
        self.source_url = source_url  # e.g. "https://files.example.com{source}"; "" = titles without links
        self.seen = seen or Seen()
        self.audit = audit
        self._threads = Seen(ttl_s=7 * 86400)  # threads the bot answered in: follow-ups there need no mention
        self.app = App(
            client=client,
            signing_secret=signing_secret or None,
            token_verification_enabled=False,
            ignoring_self_events_enabled=True,
            request_verification_enabled=verify_requests,
        )
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        self.app.command("/ask")(self._on_command)
        self.app.action(re.compile(r"^docent_vote_(up|down)$"))(self._on_vote)

    # -- listeners ---------------------------------------------------------------------------------------

    def _on_mention(self, event: dict, body: dict) -> None:
        if not self.seen.first(f"event:{body.get('event_id')}", f"message:{event['channel']}:{event['ts']}"):
            return
        self._reply(event)

    def _on_message(self, event: dict, body: dict, context: dict) -> None:
        if event.get("subtype") or event.get("bot_id"):
            return  # edits, joins, our own and other bots' messages
        channel, thread = event["channel"], event.get("thread_ts")
        direct = event.get("channel_type") == "im" or channel.startswith("D")
        mentioned = context.get("bot_user_id") and f"<@{context['bot_user_id']}>" in event.get("text", "")
        follow_up = bool(thread) and f"thread:{channel}:{thread}" in self._threads
        if not (direct or mentioned or follow_up):
            return
        if not self.seen.first(f"event:{body.get('event_id')}", f"message:{channel}:{event['ts']}"):
            return
        self._reply(event)

    def _on_command(self, ack, command: dict) -> None:
        question = command.get("text", "").strip()
        if not question:
            ack("Ask a question after the command, e.g. `/ask How many days of annual leave carry over?`")
            return
        ack(f"Looking up: {question}")
        channel, user = command["channel_id"], command["user_id"]
        # Only the asker sees the reply, so it may use the asker's own access.
        messages = self._answer(question, self._access(user, private=True), (), user=user, channel=channel)
        for blocks, text in messages:
            self._call("chat_postEphemeral", channel=channel, user=user, text=text, blocks=blocks)

    def _on_vote(self, ack, body: dict, action: dict) -> None:
        ack()
        vote = action["action_id"].rsplit("_", 1)[-1]
        user = body["user"]["id"]
        recorded = self.feedback.vote(action["value"], user=user, vote=vote)
        channel = (body.get("channel") or {}).get("id")
        if channel:
            note = "Thanks for the feedback." if recorded else "That answer is too old to rate."
            self._call("chat_postEphemeral", channel=channel, user=user, text=note)

    # -- answering ---------------------------------------------------------------------------------------

    def _reply(self, event: dict) -> None:
        channel, ts, user = event["channel"], event["ts"], event.get("user", "")
        thread = event.get("thread_ts") or ts
        question = _MENTION.sub("", event.get("text", "")).strip()
        if not question:
            self._call(
                "chat_postMessage",
                channel=channel,
                thread_ts=thread,
                text="Ask me a question about the company's documents.",
            )
            return
        direct = event.get("channel_type") == "im" or channel.startswith("D")
        self._call("reactions_add", channel=channel, timestamp=ts, name=WORKING)
        try:
            history = self._history(channel, thread, ts) if event.get("thread_ts") else ()
            access = self._access(user, private=direct)
            for blocks, text in self._answer(question, access, history, user=user, channel=channel):
                self._call("chat_postMessage", channel=channel, thread_ts=thread, text=text, blocks=blocks)
            self._threads.first(f"thread:{channel}:{thread}")
        finally:
            self._call("reactions_remove", channel=channel, timestamp=ts, name=WORKING)

    def _access(self, user: str, *, private: bool) -> Access:
        """The asker's own access where only they read the answer; public documents anywhere else."""
        if not private:
            return PUBLIC_ONLY
        try:
            return self.principals.of(user)
        except SlackApiError as exc:
            log.warning("slack users.info failed user=%s error=%s; public documents only", user, exc)
            return PUBLIC_ONLY

    def _history(self, channel: str, thread: str, current: str) -> tuple[ChatMessage, ...]:
        """The thread's earlier messages as conversation turns (the bot's are the assistant's)."""
        try:
            replies = self.client.conversations_replies(channel=channel, ts=thread, limit=50)["messages"]
        except SlackApiError as exc:
            log.warning("slack conversations.replies failed channel=%s error=%s", channel, exc)
            return ()
        turns = []
        for message in replies:
            if message.get("ts") == current or not message.get("text"):
                continue
            role = "assistant" if message.get("bot_id") else "user"
            turns.append(ChatMessage(role, _MENTION.sub("", message["text"]).strip()))
        return tuple(turns[-HISTORY_TURNS:])

    def _answer(
        self, question: str, access: Access, history: tuple[ChatMessage, ...], *, user: str, channel: str
    ) -> list[tuple[list[dict], str]]:
        """The messages (blocks and fallback text) that answer `question`; a Docent error becomes a short note."""
        answer_id = uuid.uuid4().hex
        audited = Audit(
            self.audit,
            AuditEvent(
                "answer",
                user_id=user,
                groups=",".join(access.groups) if isinstance(access, Principal) else "",
                channel=f"slack:{channel}",
                request_id=answer_id,
                query=question,
                detail='{"access": "public documents only"}' if access == PUBLIC_ONLY else None,
            ),
        )
        try:
            answer = self.answerer.answer(AskRequest(question, access, conversation=history, caller=f"slack:{user}"))
        except DocentError as exc:
            audited.failed(exc)
            log.warning("slack answer failed code=%s error=%s", exc.code, exc.message)
            text = (
                "Sorry, I can't answer right now: the document search or the model is unavailable. "
                "Please try again in a few minutes."
                if exc.transient
                else f"Sorry, I can't answer that: {exc.message}"
            )
            return [([{"type": "section", "text": {"type": "mrkdwn", "text": text}}], text)]
        audited.answered(answer)
        self.feedback.record_answer(
            answer_id,
            question=question,
            answer=answer.text,
            mode=answer.mode.value,
            user=user,
            channel=channel,
            sources=[
                {"number": c.number, "document_id": c.document_id, "title": c.title, "source": c.source, "page": c.page}
                for c in answer.citations
            ],
        )
        return render(answer, answer_id, self.source_url)

    def _call(self, method: str, **kwargs: object) -> None:
        """A Web API call whose failure is logged, not raised (rate limits were already retried)."""
        try:
            getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            log.warning("slack %s failed error=%s", method, exc.response.get("error"))


def render(answer: Answer, answer_id: str, source_url: str = "") -> list[tuple[list[dict], str]]:
    """Block Kit messages for an answer: its text, its numbered sources and the vote buttons."""
    if answer.mode is AnswerMode.NOT_FOUND:
        text = "I couldn't find this in the documents I can use here."
    else:
        text = to_mrkdwn(answer.text)
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in split_text(text)]
    sources = sources_block(answer, SLACK, source_url=source_url)
    if sources:
        for piece in split_text(sources):
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": piece}]})
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "docent_vote_up",
                    "value": answer_id,
                    "text": {"type": "plain_text", "text": "👍"},
                },
                {
                    "type": "button",
                    "action_id": "docent_vote_down",
                    "value": answer_id,
                    "text": {"type": "plain_text", "text": "👎"},
                },
            ],
        }
    )
    messages = []
    for start in range(0, len(blocks), BLOCKS_PER_MESSAGE):
        part = blocks[start : start + BLOCKS_PER_MESSAGE]
        fallback = text if start == 0 else "(continued)"
        messages.append((part, fallback[:3000]))
    return messages
