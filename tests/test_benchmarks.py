"""`make bench` keeps working: one JSON record per size with every stage (no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.run import main

STAGES = {"simulate_l1c", "open_l1c", "decode_toa_all_bands", "create_l2a_tree"}


def test_benchmark_writes_one_record_per_size(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    assert main(["--sizes", "96,120", "--seed", "2", "--output", str(output)]) == 0
    records = json.loads(output.read_text())
    assert [r["size"] for r in records] == [96, 120]
    for record in records:
        assert set(record["stages"]) == STAGES
        assert record["total_s"] == round(sum(s["wall_s"] for s in record["stages"].values()), 3)
        for stage in record["stages"].values():
            assert stage["wall_s"] >= 0 and stage["cpu_s"] >= 0
            assert 0 < stage["peak_rss_mb"] <= record["peak_rss_mb"]
