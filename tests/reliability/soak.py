"""A soak of `docent serve`: many mixed requests from concurrent clients, the way a day of real use mixes them.

Used by `tests/reliability/test_soak.py` (which asserts on the report) and `bench/soak.py` (which writes it to
bench/reports/soak.json). The server is a real `docent serve` subprocess on the embedded defaults (Qdrant Edge,
the packaged embedding models, SmolLM2 in process) over the sample corpus. The mix, drawn from a seeded random
generator so a run can be repeated:

- searches in every mode, extractive answers, follow-up questions, and the model's answers: whole, streamed to
  the end, and streamed then abandoned after a random number of events (the client closes the connection);
- OpenAI-compatible chat completions, whole and streamed (some abandoned);
- uploads of small documents, a few of them broken (they fail alone, in the job's report);
- requests that must fail, each with its one expected status: malformed bodies (422), unknown keys (401, or 429
  once the address has failed too often), unknown documents (404), a question too long (422);
- health, readiness and metrics.

Every response's status is checked against what its kind allows; anything else is an unexpected error, listed.
The server's memory (RSS of its process), threads and open files are read at rest after a warm-up that runs every
kind once, after each quarter of the requests, and at rest at the end.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from tests.support import docent_server
from tests.support.docent_server import cli

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DOCS = ROOT / "examples" / "docs"
FACTS = ROOT / "examples" / "facts.json"
MIB = 2**20


class Server(docent_server.Server):
    """`docent serve` on the soak's settings, and the server process's usage."""

    def usage(self) -> dict[str, object]:
        """The server process's memory (MiB, its own: the parser workers are children apart) and threads."""
        assert self.process is not None
        process = psutil.Process(self.process.pid)
        names = Counter(Path(f"/proc/{process.pid}/task/{t.id}/comm").read_text().strip() for t in process.threads())
        return {
            "rss_mib": round(process.memory_info().rss / MIB, 1),
            "threads": process.num_threads(),
            "open_files": process.num_fds(),
            "thread_names": dict(names),
        }


def prepare(data: Path) -> dict[str, str]:
    """Index the sample corpus (group:staff, and public) and make the keys; the keys by role."""
    cli(data, "ingest", str(SAMPLE_DOCS), "--acl", "group:staff")
    admin = json.loads(cli(data, "keys", "create", "--user", "root", "--groups", "staff", "--admin", "--json"))
    staff = json.loads(cli(data, "keys", "create", "--user", "sam", "--groups", "staff", "--json"))
    outsider = json.loads(cli(data, "keys", "create", "--user", "otto", "--groups", "sales", "--json"))
    return {"admin": admin["key"], "staff": staff["key"], "outsider": outsider["key"]}


# kind -> share of the requests; the model-bound kinds are few: the CPU model answers one at a time.
MIX = {
    "search": 0.32,
    "ask_extractive": 0.18,
    "ask_follow_up": 0.05,
    "chat_extractive": 0.05,
    "ask_generated": 0.008,
    "ask_stream": 0.006,
    "ask_stream_abandoned": 0.010,
    "chat_stream_abandoned": 0.004,
    "chat_stream": 0.002,
    "upload": 0.05,
    "upload_broken": 0.02,
    "bad_body": 0.06,
    "bad_key": 0.05,
    "unknown_document": 0.04,
    "too_long": 0.03,
    "outsider_search": 0.04,
    "health": 0.06,
}
ALLOWED = {  # the statuses each kind may get; anything else is an unexpected error
    "bad_body": {422},
    "bad_key": {401, 429},
    "unknown_document": {404},
    "too_long": {422},
    "upload": {200, 202},
    "upload_broken": {200, 202},
}


@dataclass
class Report:
    requests: int = 0
    by_kind: Counter = field(default_factory=Counter)
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    expected_errors: Counter = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    latency_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    modes: Counter = field(default_factory=Counter)
    leaks: list[str] = field(default_factory=list)  # a document of group staff seen by the outsider
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to_dict(self) -> dict[str, object]:
        def pct(values: list[float], q: float) -> float:
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

        return {
            "requests": self.requests,
            "by_kind": dict(self.by_kind),
            "statuses": {k: dict(v) for k, v in self.statuses.items()},
            "expected_errors": dict(self.expected_errors),
            "unexpected_errors": self.unexpected,
            "answer_modes": dict(self.modes),
            "leaks": self.leaks,
            "latency_ms": {
                k: {"p50": pct(v, 0.5), "p95": pct(v, 0.95), "n": len(v)}
                for k, v in sorted(self.latency_ms.items())
                if v
            },
        }


class Soak:
    def __init__(self, url: str, keys: dict[str, str], *, seed: int = 7) -> None:
        self.url, self.keys = url, keys
        self.random = random.Random(seed)
        facts = json.loads(FACTS.read_text())
        self.questions = [f["question"] for f in facts]
        self.report = Report()

    def plan(self, total: int) -> list[tuple[str, int]]:
        kinds = list(MIX)
        weights = [MIX[k] for k in kinds]
        return [(self.random.choices(kinds, weights)[0], self.random.randrange(1 << 30)) for _ in range(total)]

    def run(self, total: int, clients: int = 4) -> Report:
        work = self.plan(total)
        local = threading.local()

        def one(item: tuple[str, int]) -> None:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=self.url, timeout=120)
            kind, seed = item
            started = time.perf_counter()
            try:
                status = getattr(self, f"_{kind}")(local.client, random.Random(seed))
            except httpx.HTTPError as exc:
                status = f"{type(exc).__name__}: {exc}"
            elapsed = (time.perf_counter() - started) * 1000
            self._record(kind, status, elapsed)

        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, work))
        return self.report

    def _record(self, kind: str, status: int | str, elapsed_ms: float) -> None:
        r = self.report
        with r.lock:
            r.requests += 1
            r.by_kind[kind] += 1
            r.statuses[kind][str(status)] += 1
            r.latency_ms[kind].append(elapsed_ms)
            allowed = ALLOWED.get(kind, {200})
            if status in allowed:
                if isinstance(status, int) and status >= 400:
                    r.expected_errors[f"{kind} {status}"] += 1
            else:
                r.unexpected.append(f"{kind}: {status}")

    def _headers(self, role: str = "staff") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def _question(self, rnd: random.Random) -> str:
        return rnd.choice(self.questions)

    def _answer(self, response: httpx.Response) -> int:
        if response.status_code == 200:
            with self.report.lock:
                self.report.modes[response.json().get("mode", "?")] += 1
        return response.status_code

    # -- the kinds ---------------------------------------------------------------------------------------------

    def _search(self, client: httpx.Client, rnd: random.Random) -> int:
        body = {
            "query": self._question(rnd),
            "k": rnd.choice([5, 10, 50]),
            "mode": rnd.choice(["dense", "sparse", "hybrid"]),
        }
        return client.post("/v1/search", json=body, headers=self._headers()).status_code

    def _outsider_search(self, client: httpx.Client, rnd: random.Random) -> int:
        response = client.post(
            "/v1/search", json={"query": self._question(rnd), "k": 50}, headers=self._headers("outsider")
        )
        if response.status_code == 200 and response.json()["passages"]:
            with self.report.lock:
                self.report.leaks.append(response.json()["passages"][0]["source"])
        return response.status_code

    def _ask_extractive(self, client: httpx.Client, rnd: random.Random) -> int:
        body = {"question": self._question(rnd), "mode": "extractive"}
        return self._answer(client.post("/v1/ask", json=body, headers=self._headers()))

    def _ask_follow_up(self, client: httpx.Client, rnd: random.Random) -> int:
        body = {
            "question": "and how long does that take?",
            "mode": "extractive",
            "conversation": [{"role": "user", "content": self._question(rnd)}, {"role": "assistant", "content": "…"}],
        }
        return self._answer(client.post("/v1/ask", json=body, headers=self._headers()))

    def _ask_generated(self, client: httpx.Client, rnd: random.Random) -> int:
        return self._answer(client.post("/v1/ask", json={"question": self._question(rnd)}, headers=self._headers()))

    def _chat_extractive(self, client: httpx.Client, rnd: random.Random) -> int:
        # Chat completions always generate; an unanswerable question is "not found" without the model.
        body = {"model": "docent", "messages": [{"role": "user", "content": "Which rocket engine did Apollo 11 use?"}]}
        return client.post("/v1/chat/completions", json=body, headers=self._headers()).status_code

    def _stream(self, client: httpx.Client, path: str, body: dict, abandon_after: int | None) -> int:
        with client.stream("POST", path, json=body, headers=self._headers()) as response:
            if response.status_code != 200:
                response.read()
                return response.status_code
            events = 0
            for line in response.iter_lines():
                if line.startswith("data:"):
                    events += 1
                    if abandon_after is not None and events >= abandon_after:
                        return 200  # the connection is dropped here, half-way
                if line.startswith("event: error"):
                    return 599  # an error event: unexpected
        return 200

    def _ask_stream(self, client: httpx.Client, rnd: random.Random) -> int:
        return self._stream(client, "/v1/ask", {"question": self._question(rnd), "stream": True}, None)

    def _ask_stream_abandoned(self, client: httpx.Client, rnd: random.Random) -> int:
        return self._stream(client, "/v1/ask", {"question": self._question(rnd), "stream": True}, rnd.randint(1, 4))

    def _chat_stream(self, client: httpx.Client, rnd: random.Random, abandon: int | None = None) -> int:
        body = {"model": "docent", "stream": True, "messages": [{"role": "user", "content": self._question(rnd)}]}
        return self._stream(client, "/v1/chat/completions", body, abandon)

    def _chat_stream_abandoned(self, client: httpx.Client, rnd: random.Random) -> int:
        return self._chat_stream(client, rnd, rnd.randint(1, 4))

    def _upload(self, client: httpx.Client, rnd: random.Random, broken: bool = False) -> int:
        n = rnd.randrange(10_000)
        content = b"" if broken else f"# Note {n}\n\nMeeting note number {n} about the quarterly plan.\n".encode()
        name = f"note-{n}.md" if not broken else rnd.choice([f"empty-{n}.txt", f"photo-{n}.jpg"])
        response = client.post(
            "/v1/documents",
            files=[("files", (name, content))],
            data={"acl": "group:staff"},
            headers=self._headers("admin"),
        )
        return response.status_code

    def _upload_broken(self, client: httpx.Client, rnd: random.Random) -> int:
        return self._upload(client, rnd, broken=True)

    def _bad_body(self, client: httpx.Client, rnd: random.Random) -> int:
        body = rnd.choice([b"{", b"[]", b'{"query": 5}', b'{"question": ""}', b"\xff\xfe", b'{"k": "ten"}'])
        path = rnd.choice(["/v1/search", "/v1/ask", "/v1/chat/completions"])
        return client.post(
            path, content=body, headers={**self._headers(), "Content-Type": "application/json"}
        ).status_code

    def _bad_key(self, client: httpx.Client, rnd: random.Random) -> int:
        return client.post(
            "/v1/search", json={"query": "leave"}, headers={"Authorization": f"Bearer dk_guess{rnd.randrange(1 << 30)}"}
        ).status_code

    def _unknown_document(self, client: httpx.Client, rnd: random.Random) -> int:
        return client.get(f"/v1/documents/doc-{rnd.randrange(1 << 30)}", headers=self._headers("admin")).status_code

    def _too_long(self, client: httpx.Client, rnd: random.Random) -> int:
        return client.post("/v1/ask", json={"question": "Why " + "x" * 4100}, headers=self._headers()).status_code

    def _health(self, client: httpx.Client, rnd: random.Random) -> int:
        return client.get(rnd.choice(["/healthz", "/readyz", "/metrics"])).status_code


IDLE_S = 12.0  # anyio's idle worker threads end after 10 s: compare the server at rest with itself at rest


def soak(total: int, work: Path, *, clients: int = 4, seed: int = 7) -> dict[str, object]:
    """Index, serve, soak, and the report: the mix's outcome, and the server's memory and threads at rest after
    a warm-up, after each quarter of the requests, and at rest at the end."""
    data = work / "data"
    keys = prepare(data)
    with Server(data, work / "server.log") as server:
        runner = Soak(server.url, keys, seed=seed)
        with httpx.Client(base_url=server.url, timeout=120) as client:  # warm-up: every kind once, in turn
            for kind in MIX:  # (lazy starts: jieba, the parser process, the model's first prompt, caches)
                getattr(runner, f"_{kind}")(client, random.Random(0))
        runner.run(40, clients)
        runner.report = Report()
        time.sleep(IDLE_S)
        before = server.usage()
        series = []
        started = time.perf_counter()
        for quarter in range(4):
            runner.run(total // 4 + (total % 4 if quarter == 3 else 0), clients)
            series.append({"requests": runner.report.requests, **server.usage()})
        report = runner.report.to_dict()
        report["seconds"] = round(time.perf_counter() - started, 1)
        time.sleep(IDLE_S)  # abandoned answers and upload jobs finish, idle threads end
        after = server.usage()
        check = httpx.post(
            f"{server.url}/v1/ask",
            json={"question": "Which port does the VPN gateway listen on?"},
            headers={"Authorization": f"Bearer {keys['staff']}"},
            timeout=120,
        )
        report["after"] = {
            "ask_status": check.status_code,
            "mode": check.json().get("mode"),
            "fallback_reason": check.json().get("fallback_reason"),
            "ready": httpx.get(f"{server.url}/readyz", timeout=10).status_code,
        }
        report["server"] = {"before": before, "during": series, "after": after}
    if report["unexpected_errors"]:  # what the server said about them, for the CI log
        report["server_errors"] = _tracebacks((work / "server.log").read_text(errors="replace"))
    return report


def _tracebacks(log: str, *, limit: int = 5) -> list[str]:
    """The server log's last `limit` error lines with the traceback that follows each."""
    blocks = re.split(r"\n(?=\d{4}-\d\d-\d\d )", log)
    return [b[-3000:] for b in blocks if " ERROR " in b or "Traceback" in b][-limit:]
