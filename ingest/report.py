"""The result of an ingest run: what was indexed, skipped, removed, and what failed and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, slots=True)
class Failure:
    path: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    files: int = 0
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    access_updated: int = 0  # documents whose permissions changed at their source (no re-embedding)
    chunks: int = 0  # chunks written in this run
    embedded: int = 0  # chunks embedded in this run (0 when nothing changed)
    failed: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    optimize_seconds: float | None = None  # set when the run rebuilt the vector indexes (see IngestPipeline)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["chunks_per_s"] = round(self.embedded / self.seconds, 2) if self.seconds else 0.0
        return data
