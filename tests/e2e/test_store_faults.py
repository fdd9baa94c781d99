"""Issue 13's fault tests of the embedded store, against the real binary: kill -9 at random
moments of ingest, cuts, compaction and retention; damaged and stray files under blocks/;
far-off span times against retention; a second process on the same data directory; and the
store's metrics on the metrics port. The writes are plain OTLP/HTTP requests (store_load), and
a trace is expected back only when the server acknowledged it."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import time
from pathlib import Path

import pytest
import requests

from spoor import Ports, Spoor, backend_config, metric, wait_until
from store_load import SECOND, Writer, missing_traces, send

# Small blocks, frequent maintenance: a cut every second or 300 spans, compaction and retention
# every 300 ms, compaction windows of a minute (so blocks of old spans never merge with new ones).
BUSY_STORE = """          max_block_spans: 300
          block_duration: 1s
          maintenance_interval: 300ms
          compaction_window: 1m
          compaction_max_spans: 100000
          ttl: 10m
"""
# The same store with no cut, compaction or retention while a round's traces are checked, so
# that the check measures durability and not the races of reads with maintenance.
CHECK_STORE = """          max_block_spans: 10000000
          block_duration: 1h
          maintenance_interval: 1h
          compaction_window: 1m
          ttl: 10m
"""


def start(data: Path, ports: Ports, extra: str, name: str) -> Spoor:
    spoor = Spoor([backend_config(ports, "embedded", data, extra_embedded=extra)], name=name)
    spoor.start([ports.otlp_http, ports.query])
    return spoor


def parquet_files(data: Path) -> list[Path]:
    return sorted((data / "blocks").glob("*.parquet"))


def kill_9(spoor: Spoor) -> None:
    assert spoor.process is not None
    spoor.process.send_signal(signal.SIGKILL)
    spoor.process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# a. kill -9 at 20 random moments


def test_kill_9_at_random_moments_keeps_every_acknowledged_trace(tmp_path):
    """20 rounds, each killed at a random moment of one phase: during ingest (cuts every 300
    spans), right after ingest while the last head is cut, in the quiet time when compaction
    merges the blocks, and while retention deletes a block of spans dated just inside the TTL.
    After each restart the traces acknowledged in that round (and a sample of older ones) read
    back whole; at the end, every acknowledged trace does. The checks run with maintenance
    off, so that a miss is a lost trace and not a read racing a cut (another acceptance line)."""
    rng = random.Random(1313)
    ports, data = Ports(), tmp_path / "data"
    acknowledged: set[str] = set()
    phases = ["ingest", "cut", "compaction", "retention"]
    seen_staging = 0
    # Cuts and compaction passes each process finished before its kill (0 without the metrics).
    maintenance = {"cuts": 0.0, "compactions": 0.0}
    for round_index in range(20):
        phase = phases[round_index % len(phases)]
        spoor = start(data, ports, BUSY_STORE, f"kill9-{round_index}")
        try:
            fresh: set[str] = set()
            if phase == "retention":
                # Spans dated 9m58s ago (TTL 10m): their own block, cut after 1 s, expires about
                # 2 s later and is deleted by the next maintenance pass.
                send(ports.otlp_http, "doomed", 30, start_ns=time.time_ns() - (600 - 2) * SECOND)
                time.sleep(rng.uniform(0.5, 4.0))
            else:
                with Writer(ports.otlp_http, "kill9", threads=2, traces_per_request=4) as writer:
                    time.sleep(rng.uniform(0.2, 2.0))
                    if phase == "ingest":
                        kill_9(spoor)
                if phase == "cut":
                    time.sleep(rng.uniform(0.0, 1.5))
                elif phase == "compaction":
                    time.sleep(rng.uniform(1.0, 3.0))
                fresh = writer.acknowledged
            seen_staging += sum(1 for p in (data / "blocks").glob("*") if "#" in p.name)
            if spoor.process.poll() is None:
                for key, name in (("cuts", "cut"), ("compactions", "compaction")):
                    maintenance[key] += metric(ports.metrics, f"spoor_store_{name}_duration_seconds_count")
            kill_9(spoor)
        finally:
            spoor.kill()
        acknowledged |= fresh
        spoor = start(data, ports, CHECK_STORE, f"kill9-{round_index}-check")
        try:
            sample = set(rng.sample(sorted(acknowledged - fresh), min(100, len(acknowledged - fresh))))
            problems = missing_traces(ports.query, fresh | sample)
            assert not problems, f"round {round_index} ({phase}): {len(problems)} lost, e.g. {problems[:5]}"
        finally:
            spoor.kill()
    assert len(acknowledged) > 1000, f"only {len(acknowledged)} traces acknowledged in 20 rounds"
    spoor = start(data, ports, CHECK_STORE, "kill9-final")
    try:
        problems = missing_traces(ports.query, acknowledged)
        assert not problems, f"{len(problems)} of {len(acknowledged)} lost, e.g. {problems[:5]}"
    finally:
        spoor.kill()
    print(f"kill -9: {len(acknowledged)} acknowledged traces found; staging files seen at kills: {seen_staging}; "
          f"cuts and compactions done before the kills: {maintenance}")


# ---------------------------------------------------------------------------------------------
# b. damaged blocks, damaged meta, stray files

QUIET_STORE = """          block_duration: 1s
          maintenance_interval: 1h
"""

DAMAGES = ("truncated", "garbage-meta", "empty", "intact")


@pytest.fixture(scope="module")
def damaged_data(tmp_path_factory) -> tuple[Path, dict[str, set[str]], dict[str, str]]:
    """A data directory with four blocks, one per entry of DAMAGES, each holding its own
    service's traces, then damaged as named, plus stray files, a stray directory and leftover
    staging files under blocks/. Returns the directory, the trace IDs and the block IDs by
    damage. Tests copy it before starting spoor on it."""
    data = tmp_path_factory.mktemp("damaged") / "data"
    ports = Ports()
    spoor = start(data, ports, QUIET_STORE, "damage-setup")
    traces, blocks = {}, {}
    try:
        for damage in DAMAGES:
            before = set(parquet_files(data))
            traces[damage] = send(ports.otlp_http, f"svc-{damage}", 10)
            new = wait_until(lambda: set(parquet_files(data)) - before, 30, message=f"the {damage} block")
            assert len(new) == 1, new
            blocks[damage] = new.pop().name.removesuffix(".parquet")
        assert spoor.terminate() == 0
    finally:
        spoor.kill()
    directory = data / "blocks"
    truncated = directory / f"{blocks['truncated']}.parquet"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    (directory / f"{blocks['garbage-meta']}.meta.json").write_text('{"id": "not json at all')
    (directory / f"{blocks['empty']}.parquet").write_bytes(b"")
    (directory / "README.txt").write_text("a stray file")
    (directory / "100%.txt").write_text("a name object_store reads as percent-encoding")
    (directory / os.fsdecode(b"stray-\xff.bin")).write_bytes(b"a name that is not UTF-8")
    (directory / "stray-dir").mkdir()
    (directory / "stray-dir" / "inner.parquet").write_bytes(b"PAR1 not a block")
    (directory / "stray-dir" / "inner.meta.json").write_text("{}")
    # What object_store's LocalFileSystem leaves when a put dies before its rename.
    (directory / f"{blocks['intact']}.parquet#7").write_bytes(b"PAR1 half a staged block")
    (directory / "00000000000000000001-00000001-000001.meta.json#3").write_text("{")
    return data, traces, blocks


def start_on_copy(tmp_path: Path, damaged_data) -> tuple[Spoor, Ports, Path]:
    source, _, _ = damaged_data
    data = tmp_path / "data"
    shutil.copytree(source, data)
    ports = Ports()
    return start(data, ports, QUIET_STORE, "damaged"), ports, data


def search(ports: Ports, service: str) -> requests.Response:
    now_us = time.time_ns() // 1000
    params = {"service": service, "start": now_us - 3600 * 10**6, "end": now_us + 10**6, "limit": 20}
    return requests.get(f"http://127.0.0.1:{ports.query}/api/traces", params=params, timeout=10)


def test_damaged_and_stray_files_do_not_stop_startup_and_the_rest_is_served(tmp_path, damaged_data):
    """Startup works, and the intact block's traces are found by ID and by search. (Today a
    stray file whose name is not UTF-8 aborts startup: this needs issue 13's one-level listing.)"""
    _, traces, _ = damaged_data
    spoor, ports, _ = start_on_copy(tmp_path, damaged_data)
    try:
        assert not missing_traces(ports.query, traces["intact"])
        response = search(ports, "svc-intact")
        assert response.status_code == 200, response.text[:300]
        assert {t["traceID"] for t in response.json()["data"]} == traces["intact"]
        assert requests.get(f"http://127.0.0.1:{ports.query}/api/services", timeout=10).status_code == 200
    finally:
        spoor.kill()


def test_searches_over_damaged_blocks_answer_200(tmp_path, damaged_data):
    """Needs issue 13's checks at load: a search whose service lives in a damaged block skips
    it instead of failing with 500, and lookups of the damaged blocks' traces answer 200 or 404,
    never 500."""
    _, traces, _ = damaged_data
    spoor, ports, _ = start_on_copy(tmp_path, damaged_data)
    try:
        for damage in ("truncated", "empty"):
            response = search(ports, f"svc-{damage}")
            assert response.status_code == 200, (damage, response.status_code, response.text[:300])
            for trace_id in traces[damage]:
                status = requests.get(f"http://127.0.0.1:{ports.query}/api/traces/{trace_id}", timeout=10).status_code
                assert status in (200, 404), (damage, trace_id, status)
    finally:
        spoor.kill()


def test_damaged_blocks_are_quarantined_and_reported(tmp_path, damaged_data):
    """Needs the quarantine of issue 13: each damaged block's files move to quarantine/ with a
    log line naming the block, the intact block stays, and the leftover staging files are
    removed. (Where stray files and directories end up is the store's choice.)"""
    _, _, blocks = damaged_data
    spoor, ports, data = start_on_copy(tmp_path, damaged_data)
    try:
        quarantine = data / "quarantine"
        log = spoor.stderr()
        for damage in ("truncated", "garbage-meta", "empty"):
            block = blocks[damage]
            assert block in log and "quarantin" in log.lower(), (damage, log[-3000:])
            assert not list((data / "blocks").glob(f"{block}*")), (damage, sorted((data / "blocks").iterdir()))
            assert quarantine.is_dir() and any(p.name.startswith(block) for p in quarantine.rglob("*")), damage
        assert (data / "blocks" / f"{blocks['intact']}.parquet").is_file()
        assert not [p.name for p in (data / "blocks").iterdir() if "#" in p.name], sorted((data / "blocks").iterdir())
    finally:
        spoor.kill()


def test_search_response_errors_name_quarantined_blocks(tmp_path, damaged_data):
    """Needs issue 13's `errors` in search responses: a search over the window of a block
    quarantined at startup still answers 200 with the intact data, and its `errors` report the
    damage."""
    _, traces, blocks = damaged_data
    spoor, ports, _ = start_on_copy(tmp_path, damaged_data)
    try:
        response = search(ports, "svc-intact")
        assert response.status_code == 200
        body = response.json()
        assert {t["traceID"] for t in body["data"]} == traces["intact"]
        errors = json.dumps(body.get("errors") or [])
        assert any(blocks[damage] in errors for damage in ("truncated", "garbage-meta", "empty")), errors
    finally:
        spoor.kill()


# ---------------------------------------------------------------------------------------------
# c. far-future and zero start times against retention

RETENTION_STORE = """          ttl: 3s
          block_duration: 1s
          maintenance_interval: 200ms
"""

TEN_YEARS = 10 * 365 * 24 * 3600 * SECOND


@pytest.mark.parametrize("when", ["ten-years-ahead", "zero"])
def test_far_off_start_times_do_not_pin_blocks_past_retention(tmp_path, when):
    """A trace dated ten years ahead (or at time 0) written with a normal one: it is stored
    with its own start time, and the blocks are gone from blocks/ once the TTL has passed.
    Ten years ahead needs issue 13's placement by ingestion time; time 0 passes today."""
    ports, data = Ports(), tmp_path / "data"
    spoor = start(data, ports, RETENTION_STORE, f"far-{when}")
    try:
        start_ns = time.time_ns() + TEN_YEARS if when == "ten-years-ahead" else 0
        odd = send(ports.otlp_http, f"svc-{when}", 1, start_ns=start_ns)
        normal = send(ports.otlp_http, "svc-normal", 1)
        trace_id = next(iter(odd))
        response = requests.get(f"http://127.0.0.1:{ports.query}/api/traces/{trace_id}", timeout=10)
        assert response.status_code == 200, response.text[:200]
        starts = {span["startTime"] for span in response.json()["data"][0]["spans"]}
        assert min(starts) == start_ns // 1000, (starts, start_ns)  # stored unchanged
        wait_until(lambda: parquet_files(data), 20, interval=0.05, message="a parquet block")
        wait_until(lambda: not parquet_files(data), 30, message=f"every block expired ({when} start)")
        for expired in odd | normal:
            status = requests.get(f"http://127.0.0.1:{ports.query}/api/traces/{expired}", timeout=10).status_code
            assert status == 404, (expired, status)
    finally:
        spoor.kill()


# ---------------------------------------------------------------------------------------------
# d. a second process on the same data directory


def test_second_process_on_the_same_data_directory_exits_naming_the_holder(tmp_path):
    """Needs the lock file of issue 13: the second process exits non-zero, its error names the
    first one's PID, and the first keeps serving."""
    data = tmp_path / "data"
    first_ports = Ports()
    first = start(data, first_ports, "", "lock-first")
    second = Spoor([backend_config(Ports(), "embedded", data)], name="lock-second")
    try:
        trace_ids = send(first_ports.otlp_http, "svc-lock", 3)
        second.start()
        assert second.process is not None
        try:
            code = second.process.wait(timeout=30)
        except Exception:
            raise AssertionError(f"the second process still runs on {data}:\n{second.stderr()[-2000:]}")
        assert code != 0
        message = second.stderr() + second.stdout()
        assert re.search(rf"\b{first.process.pid}\b", message), message[-2000:]
        assert "lock" in message.lower(), message[-2000:]
        assert first.process.poll() is None
        assert not missing_traces(first_ports.query, trace_ids)
    finally:
        second.kill()
        first.kill()


# ---------------------------------------------------------------------------------------------
# the store's metrics

STORE_METRICS = [
    "spoor_store_spans_written_total",
    "spoor_store_bytes_written_total",
    "spoor_store_head_bytes",
    "spoor_store_wal_bytes",
    "spoor_store_blocks",
    "spoor_store_block_bytes",
    "spoor_store_cut_duration_seconds_count",
    "spoor_store_cut_failures_total",
    "spoor_store_compaction_duration_seconds_count",
    "spoor_store_compaction_failures_total",
    "spoor_store_quarantined_blocks",
    "spoor_store_placed_spans_total",
    "spoor_store_disk_full",
]


def metric_names(port: int) -> set[str]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})? ", text, re.M)}


def test_store_metrics_after_a_write_and_a_cut(tmp_path):
    """After 50 traces and a cut: spans and bytes written, a block with bytes on disk, a cut
    timed, no failures, no disk-full state; every store metric is exposed, labelled by backend."""
    ports, data = Ports(), tmp_path / "data"
    spoor = start(data, ports, "          block_duration: 1s\n", "metrics")
    try:
        send(ports.otlp_http, "svc-metrics", 50)
        assert metric(ports.metrics, "spoor_store_spans_written_total", backend="main") == 150
        assert metric(ports.metrics, "spoor_store_bytes_written_total", backend="main") > 150 * 20
        wait_until(lambda: metric(ports.metrics, "spoor_store_blocks", backend="main") >= 1, 20, message="a block")
        wait_until(lambda: metric(ports.metrics, "spoor_store_head_bytes") == 0, 10, message="an empty head")
        # The blocks' Parquet files at least (a block may keep other files beside them).
        assert metric(ports.metrics, "spoor_store_block_bytes") >= sum(p.stat().st_size for p in parquet_files(data)) > 0
        assert metric(ports.metrics, "spoor_store_cut_duration_seconds_count") >= 1
        assert metric(ports.metrics, "spoor_store_cut_failures_total") == 0
        assert metric(ports.metrics, "spoor_store_disk_full") == 0
        missing = [name for name in STORE_METRICS if name not in metric_names(ports.metrics)]
        assert not missing, missing
    finally:
        spoor.kill()


def test_placed_spans_are_counted(tmp_path):
    """Needs the placement of far-off start times (issue 13): a trace dated ten years ahead
    counts its three spans in spoor_store_placed_spans_total."""
    ports, data = Ports(), tmp_path / "data"
    spoor = start(data, ports, "", "placed")
    try:
        send(ports.otlp_http, "svc-placed", 1, start_ns=time.time_ns() + TEN_YEARS)
        send(ports.otlp_http, "svc-normal", 1)
        assert metric(ports.metrics, "spoor_store_placed_spans_total", backend="main") == 3
    finally:
        spoor.kill()
