"""Jaeger's storage integration fixtures, with dates shifted as Jaeger's loader shifts them."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

from spoor import SHARED

FIXTURES = SHARED / "fixtures" / "jaeger" / "storage-integration"
DAY_NS = 86_400 * 10**9


def today_utc() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def _shift(ns: int, today: dt.date) -> int:
    """A 2017-01-25 instant moves to today-2 days and any other to today-1, keeping its time of day."""
    instant = dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc)
    days_back = 2 if instant.date() == dt.date(2017, 1, 25) else 1
    target = today - dt.timedelta(days=days_back)
    delta_days = (target - instant.date()).days
    return ns + delta_days * DAY_NS


def load_trace(name: str, today: dt.date) -> dict:
    body = json.loads((FIXTURES / "traces" / f"{name}.json").read_text())
    body = copy.deepcopy(body)
    for resource in body.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                for key in ("startTimeUnixNano", "endTimeUnixNano"):
                    if key in span:
                        span[key] = str(_shift(int(span[key]), today))
                for event in span.get("events", []):
                    if "timeUnixNano" in event:
                        event["timeUnixNano"] = str(_shift(int(event["timeUnixNano"]), today))
    return body


def trace_ids(body: dict) -> set[str]:
    return {
        span["traceId"].lower()
        for resource in body.get("resourceSpans", [])
        for scope in resource.get("scopeSpans", [])
        for span in scope.get("spans", [])
    }


def span_count(body: dict) -> int:
    return sum(len(scope.get("spans", [])) for r in body.get("resourceSpans", []) for scope in r.get("scopeSpans", []))


def load_queries(today: dt.date) -> list[dict]:
    text = (FIXTURES / "queries.json").read_text()
    text = text.replace("2017-01-26", (today - dt.timedelta(days=1)).isoformat())
    text = text.replace("2017-01-25", (today - dt.timedelta(days=2)).isoformat())
    return json.loads(text)


def expected_fixture_names(queries: list[dict]) -> list[str]:
    names = {name for query in queries for name in query["ExpectedFixtures"] or []}
    names.add("example_trace")
    return sorted(names)


def rfc3339_to_micros(text: str) -> int:
    instant = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(instant.timestamp()) * 1_000_000 + instant.microsecond


def go_tag_value(value) -> str:
    """Query tag values are matched as strings; JSON numbers and bools print as Go prints them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def api_params(query: dict) -> dict:
    q = query["Query"]
    params = {"service": q["ServiceName"], "limit": str(q.get("NumTraces") or 1000)}
    if q.get("OperationName"):
        params["operation"] = q["OperationName"]
    if q.get("Tags"):
        params["tags"] = json.dumps({k: go_tag_value(v) for k, v in q["Tags"].items()})
    params["start"] = str(rfc3339_to_micros(q["StartTimeMin"]))
    params["end"] = str(rfc3339_to_micros(q["StartTimeMax"]))
    if q.get("DurationMin"):
        params["minDuration"] = f"{q['DurationMin']}ns"
    if q.get("DurationMax"):
        params["maxDuration"] = f"{q['DurationMax']}ns"
    return params
