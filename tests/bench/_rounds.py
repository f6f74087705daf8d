"""What the relay ingest benchmarks share: rounds of the load generator against a served
relay (or baseline), summed into a ``Tally``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench._load import percentile
from tests.bench._relay_proc import REPO_ROOT, ServerProcess

__all__ = ["Tally", "generate", "log", "system_cpu"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def system_cpu() -> tuple[int, int]:
    """(all, idle) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values), values[3] + values[4]


@dataclass
class Tally:
    """One target's figures, summed over its rounds (a benchmark adds its CPU figures)."""

    name: str
    seconds: float = 0.0
    answered: int = 0
    latencies_us: list[int] = field(default_factory=list)
    ok: list[str] = field(default_factory=list)
    failed: int = 0
    wall_s: float = 0.0

    @property
    def per_s(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    def p_ms(self, pct: float) -> float:
        return percentile(self.latencies_us, pct) / 1000


def generate(
    server: ServerProcess, tally: Tally, index: int, args: argparse.Namespace, page_ids: str
) -> dict[str, Any]:
    """Run the load generator once against ``server`` (webhooks for ``page_ids``, comma
    separated), add its figures to ``tally`` and return what it wrote."""
    out = args.workdir / f"{tally.name}-{index}.json"
    command = [
        sys.executable,
        "-m",
        "tests.bench._load",
        f"--port={server.port}",
        f"--page-id={page_ids}",
        f"--prefix={tally.name}{index}",
        f"--connections={args.connections}",
        f"--seconds={args.round_s}",
        f"--warmup={args.warmup}",
        f"--out={out}",
    ]
    began = time.perf_counter()
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(out.read_text())
    tally.seconds += result["seconds"]
    tally.answered += result["answered_in_window"]
    tally.latencies_us += result["latencies_us"]
    tally.ok += result["ok"]
    tally.failed += len(result["failed"])
    tally.wall_s += wall
    result["wall_s"] = wall
    return result
