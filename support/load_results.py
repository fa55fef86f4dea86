"""What a load run measured, as numbers and as its `*.load.json` file: the raw samples, their
nearest-rank percentiles (avg, p90, p95, p99 and max, as k6 shows them), the printed table, and the
merge of the files of sharded runs into one report:

    python -m support.load_results merge shard1.load.json shard2.load.json -o merged.load.json

The file keeps every raw sample, not only summaries, because percentiles cannot be averaged: the
merged p95 is the p95 of the union of every shard's samples. 10,000 conversations keep about 150,000
numbers, under 2 MB of JSON. A merged file is a results file too, so merges can be merged again.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

# Distributions: one sample per customer (per chunk for inter_chunk_gap).
TRENDS = ("ws_connecting", "time_to_first_text", "time_to_first_audio", "inter_chunk_gap", "reply_duration",
          "ws_session_duration")
COUNTERS = ("ws_msgs_received", "ws_msgs_sent")
DESCRIPTIONS = {
    "ws_connecting": "connection attempt to the first ready event",
    "time_to_first_text": "question sent to the first text piece",
    "time_to_first_audio": "question sent to the first audio piece (speech asked)",
    "inter_chunk_gap": "between consecutive text pieces of one answer",
    "reply_duration": "question sent to both completion flags",
    "ws_session_duration": "connection attempt to the connection's end",
    "ws_msgs_received": "frames received",
    "ws_msgs_sent": "frames sent",
}
STATS = ("avg", "p90", "p95", "p99", "max")   # what the table shows of each trend (k6's set)
FORMAT = 2                                      # the file's format: 2 keeps raw samples
DETAIL_LIMIT = 50                               # conversations whose violations a file lists one by one


def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value that at least p% of the values do not exceed."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(values: list[float]) -> dict:
    """count, min, avg, p50, p90, p95, p99 and max of one metric (None when there is no sample)."""
    if not values:
        return {"count": 0, "min": None, "avg": None, "p50": None, "p90": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)
    return {"count": len(ordered), "min": ordered[0], "avg": round(sum(ordered) / len(ordered), 3),
            **{f"p{p}": percentile(ordered, p) for p in (50, 90, 95, 99)}, "max": ordered[-1]}


def combine(parts: Iterable[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Many sample sets (one per customer, or one per shard) as one."""
    out: dict[str, list[float]] = {name: [] for name in TRENDS + COUNTERS}
    for one in parts:
        for name, values in one.items():
            out.setdefault(name, []).extend(values)
    return out


def metrics(samples: dict[str, list[float]], wall_s: float) -> dict[str, dict]:
    """Trends summarised; counters as a total and a rate per second of wall time (as k6 shows them)."""
    out = {name: summarize(samples.get(name, [])) for name in TRENDS}
    for name in COUNTERS:
        total = int(sum(samples.get(name, [])))
        out[name] = {"count": total, "rate": round(total / wall_s, 1) if wall_s > 0 else None}
    return out


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def table(summary: dict[str, dict]) -> list[str]:
    """The metrics as aligned lines, trends first (metrics with no samples are left out)."""
    lines = [f"    {'metric':<21}{'count':>8}" + "".join(f"{s:>11}" for s in STATS)]
    for name in TRENDS:
        s = summary[name]
        if s["count"]:
            lines.append(f"    {name:<21}{s['count']:>8}" + "".join(f"{fmt(s[k]):>11}" for k in STATS))
    for name in COUNTERS:
        s = summary[name]
        rate = f"{s['rate']:,.1f}/s" if s["rate"] is not None else "-"
        lines.append(f"    {name:<21}{s['count']:>8}   {rate}")
    return lines


@dataclass
class Results:
    """One load run (or several merged): what its `*.load.json` holds."""
    customers: int
    answered: int                      # answered in full
    broken: int                        # conversations that broke a protocol rule
    unfinished: int                    # still running when the run ended (counted among the failed)
    wall_s: float
    samples: dict[str, list[float]]
    speech: bool = False
    phases: dict[str, float] = field(default_factory=dict)
    failed: list[dict] = field(default_factory=list)        # {"connection", "why"}: every failed conversation
    broken_rules: dict[str, int] = field(default_factory=dict)   # rule -> conversations that broke it
    violations: list[dict] = field(default_factory=list)    # the first DETAIL_LIMIT broken conversations' findings
    notices: dict[str, int] = field(default_factory=dict)
    shards: int = 1

    def summary(self) -> dict[str, dict]:
        return metrics(self.samples, self.wall_s)

    def head(self) -> str:
        n = self.customers
        unfinished = f" ({self.unfinished} unfinished when the run ended)" if self.unfinished else ""
        shards = f" in {self.shards} shards" if self.shards > 1 else ""
        phases = ""
        if self.phases:
            p = self.phases
            phases = (f" (connecting {p.get('connecting', 0):.2f} s, then chatting {p.get('chatting', 0):.2f} s; "
                      f"rules checked in {p.get('checking', 0):.2f} s of it)")
        return (f"load: {n} customers{shards}{' (answers read aloud)' if self.speech else ''}: {self.answered} "
                f"answered in full, {n - self.answered} did not{unfinished}, {self.broken} broke a protocol rule "
                f"({self.broken_share():.1f}%); wall {self.wall_s:.2f} s{phases}")

    def broken_share(self) -> float:
        return 100.0 * self.broken / self.customers if self.customers else 0.0

    def lines(self) -> list[str]:
        counted = ", ".join(f"{rule} ×{count}" for rule, count in sorted(self.notices.items()))
        notes = [f"    notices (informational, failing only with strict_events=true): {counted}"] if counted else []
        return [self.head(), *table(self.summary()), *notes]

    def to_json(self) -> dict:
        return {
            "format": FORMAT, "customers": self.customers, "answered_in_full": self.answered,
            "broken": self.broken, "unfinished": self.unfinished, "shards": self.shards, "speech": self.speech,
            "wall_seconds": round(self.wall_s, 3), "phases_seconds": {k: round(v, 3) for k, v in self.phases.items()},
            "metrics": self.summary(), "metric_descriptions": DESCRIPTIONS,
            "failed": self.failed, "broken_rules": self.broken_rules, "violations": self.violations,
            "notices": self.notices, "samples": self.samples,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Results":
        if not isinstance(data, dict) or not isinstance(data.get("samples"), dict):
            raise ValueError("not a load results file with raw samples (format 2: written by this suite's "
                             "@load scenarios or locustfile.py --load-json)")
        return cls(customers=int(data["customers"]), answered=int(data["answered_in_full"]),
                   broken=int(data["broken"]), unfinished=int(data.get("unfinished", 0)),
                   wall_s=float(data["wall_seconds"]), samples={k: list(v) for k, v in data["samples"].items()},
                   speech=bool(data.get("speech")), phases=dict(data.get("phases_seconds") or {}),
                   failed=list(data.get("failed") or []), broken_rules=dict(data.get("broken_rules") or {}),
                   violations=list(data.get("violations") or []), notices=dict(data.get("notices") or {}),
                   shards=int(data.get("shards", 1)))


def merge(parts: list[Results]) -> Results:
    """Sharded runs as one: counts and samples added, percentiles over the union of the samples.
    The shards ran at the same time, so the merged wall time is the longest shard's (rates add up)."""
    return Results(
        customers=sum(r.customers for r in parts), answered=sum(r.answered for r in parts),
        broken=sum(r.broken for r in parts), unfinished=sum(r.unfinished for r in parts),
        wall_s=max((r.wall_s for r in parts), default=0.0), samples=combine(r.samples for r in parts),
        speech=any(r.speech for r in parts), failed=[f for r in parts for f in r.failed],
        broken_rules=_merge_counts(r.broken_rules for r in parts),
        violations=[v for r in parts for v in r.violations][:DETAIL_LIMIT * 5],
        notices=_merge_counts(r.notices for r in parts), shards=sum(r.shards for r in parts))


def _merge_counts(many: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in many:
        for key, n in counts.items():
            total[key] = total.get(key, 0) + n
    return total


def _sample_lines(samples: dict[str, list[float]]) -> str:
    return "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in samples.items()) + "\n }"


def write(path: Path, results: Results) -> Path:
    """The results file: readable summaries, then the raw samples one metric per line (compact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = results.to_json()
    samples = data.pop("samples")
    text = json.dumps(data, indent=1)
    path.write_text(text[:-2] + ',\n "samples": ' + _sample_lines(samples) + "\n}\n")
    return path


def read(path: Path) -> Results:
    try:
        return Results.from_json(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support.load_results",
                                     description="Merge the *.load.json files of sharded load runs into one report.")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("merge", help="merge results files; print the merged table")
    m.add_argument("files", nargs="+", type=Path)
    m.add_argument("-o", "--output", type=Path, help="write the merged results file here")
    args = parser.parse_args(argv)
    try:
        merged = merge([read(p) for p in args.files])
    except ValueError as exc:
        print(f"load_results: {exc}", file=sys.stderr)
        return 2
    print("\n".join(merged.lines()))
    if args.output:
        write(args.output, merged)
        print(f"    merged results: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
