"""What one monitoring run found: statistics with their thresholds and verdicts, grouped in
checks, in one report that turns into JSON (every number) and into the rendered tables."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OK, BREACH, NOT_JUDGED = "ok", "breach", "not judged"


@dataclass
class Statistic:
    """One number judged against one threshold. ``rule`` ``max``: a breach above it; ``min``:
    a breach below it. ``judged`` is the number compared (default ``value``; the online check
    compares the upper end of an interval); None: not judged (``note`` says why)."""

    name: str
    value: float | None
    rule: str
    threshold: float
    judged: float | None = None
    interval: tuple[float, float] | None = None
    reference: Any = None
    current: Any = None
    note: str = ""
    verdict: str = field(init=False)

    def __post_init__(self) -> None:
        if self.rule not in ("max", "min"):
            raise ValueError(f"unknown rule {self.rule!r}")
        if self.judged is None:
            self.judged = self.value
        if self.judged is None:
            self.verdict = NOT_JUDGED
        elif self.rule == "max":
            self.verdict = BREACH if self.judged > self.threshold else OK
        else:
            self.verdict = BREACH if self.judged < self.threshold else OK


def not_judged(name: str, rule: str, threshold: float, note: str, **extra: Any) -> Statistic:
    return Statistic(name, None, rule, threshold, note=note, **extra)


@dataclass
class Check:
    name: str  # data drift, recommendation drift, online quality
    statistics: list[Statistic]
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        verdicts = {s.verdict for s in self.statistics}
        if BREACH in verdicts:
            return BREACH
        return OK if OK in verdicts else NOT_JUDGED

    @property
    def breaches(self) -> list[Statistic]:
        return [s for s in self.statistics if s.verdict == BREACH]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "statistics": [asdict(s) for s in self.statistics],
            "notes": self.notes,
        }


@dataclass
class MonitoringReport:
    time: str  # the run's ``now`` (ISO 8601, UTC)
    model: str
    version: int
    alias: str
    window: dict[str, str]  # since, until
    checks: list[Check]
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # events, impressions read
    html: str | None = None  # where the report was written (None: not written)
    json: str | None = None

    @property
    def breached(self) -> bool:
        return any(c.verdict == BREACH for c in self.checks)

    @property
    def verdict(self) -> str:
        if self.breached:
            return BREACH
        return OK if any(c.verdict == OK for c in self.checks) else NOT_JUDGED

    def breaches(self) -> list[str]:
        """``check: statistic value vs threshold`` for each breach (the audit log's reason)."""
        out = []
        for check in self.checks:
            for s in check.breaches:
                sign = ">" if s.rule == "max" else "<"
                out.append(f"{check.name}: {s.name} {s.judged:.4g} {sign} {s.threshold:g}")
        return out

    def to_dict(self) -> dict:
        return {
            "time": self.time,
            "model": self.model,
            "version": self.version,
            "alias": self.alias,
            "window": self.window,
            "verdict": self.verdict,
            "breaches": self.breaches(),
            "counts": self.counts,
            "checks": [c.to_dict() for c in self.checks],
            "notes": self.notes,
            "html": self.html,
            "json": self.json,
        }
