import { describe, expect, it } from "vitest";
import { buildModel } from "../model";
import type { KeyValue, Log, Span, Trace } from "../types";
import { ancestorIds, findSpans } from "./search";
import { descendantCounts, niceTicks, normalizeRange, shiftRange } from "./layout";
import { traceGraph } from "./graphData";
import { logMatches, logTitle, traceLogs } from "./logs";
import { nextSort } from "./SortHeader";

const str = (key: string, value: string): KeyValue => ({ key, type: "string", value });

function span(id: string, parent: string | null, pid: string, op: string, start: number, duration: number,
  extra: Partial<Span> = {}): Span {
  return {
    traceID: "t1",
    spanID: id,
    operationName: op,
    references: parent ? [{ refType: "CHILD_OF", traceID: "t1", spanID: parent }] : [],
    startTime: start,
    duration,
    tags: [],
    logs: [],
    processID: pid,
    warnings: null,
    ...extra,
  };
}

const log = (timestamp: number, ...fields: KeyValue[]): Log => ({ timestamp, fields });

// a (frontend GET /) → b (api query) → c (db SELECT); a → d (api query, error)
const trace: Trace = {
  traceID: "t1",
  processes: { p1: { serviceName: "frontend", tags: [] }, p2: { serviceName: "api", tags: [] }, p3: { serviceName: "db", tags: [] } },
  warnings: null,
  spans: [
    span("a", null, "p1", "GET /", 1000, 100, { tags: [str("http.route", "/")] }),
    span("b", "a", "p2", "query", 1010, 40, { logs: [log(1030, str("event", "retry"), str("attempt", "2"))] }),
    span("c", "b", "p3", "SELECT", 1015, 20, { tags: [str("db.statement", "SELECT * FROM Users")] }),
    span("d", "a", "p2", "query", 1060, 30, {
      tags: [{ key: "error", type: "bool", value: true }],
      logs: [log(1020, str("message", "started early"))],
    }),
  ],
};
const model = buildModel(trace);

describe("findSpans", () => {
  it("matches operation, service, span ID, tags and log fields case-insensitively", () => {
    expect(findSpans(model, "QUERY")).toEqual(["b", "d"]);
    expect(findSpans(model, "db")).toEqual(["c"]);
    expect(findSpans(model, "from users")).toEqual(["c"]);
    expect(findSpans(model, "attempt=2")).toEqual(["b"]);
    expect(findSpans(model, "error=true")).toEqual(["d"]);
    expect(findSpans(model, "  ")).toEqual([]);
  });
  it("lists ancestors nearest first", () => {
    expect(ancestorIds(model.byId.get("c")!)).toEqual(["b", "a"]);
  });
});

describe("layout", () => {
  it("picks nice ticks", () => {
    expect(niceTicks(0, 100, 5)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(3, 17, 4)).toEqual([5, 10, 15]);
    expect(niceTicks(0, 1000, 2)).toEqual([0, 500, 1000]);
    expect(niceTicks(5, 5, 4)).toEqual([5]);
  });
  it("normalizes and shifts view ranges", () => {
    expect(normalizeRange(0.8, 0.2)).toEqual({ from: 0.2, to: 0.8 });
    expect(normalizeRange(-1, 2)).toEqual({ from: 0, to: 1 });
    const tiny = normalizeRange(0.5, 0.5);
    expect(tiny.to - tiny.from).toBeCloseTo(0.0005);
    expect(shiftRange({ from: 0.2, to: 0.4 }, 0.9)).toEqual({ from: 0.8, to: 1 });
    expect(shiftRange({ from: 0.2, to: 0.4 }, -0.5)).toEqual({ from: 0, to: 0.2 });
  });
  it("counts descendants", () => {
    const counts = descendantCounts(model);
    expect(counts.get("a")).toBe(3);
    expect(counts.get("b")).toBe(1);
    expect(counts.get("c")).toBe(0);
  });
});

describe("traceGraph", () => {
  it("aggregates services and skips calls within a service", () => {
    const g = traceGraph(model, "service");
    expect(g.nodes.map((n) => [n.id, n.count, n.errors])).toEqual([
      ["frontend", 1, 0],
      ["api", 2, 1],
      ["db", 1, 0],
    ]);
    expect(g.edges).toEqual([
      { from: "frontend", to: "api", count: 2 },
      { from: "api", to: "db", count: 1 },
    ]);
  });
  it("aggregates operations", () => {
    const g = traceGraph(model, "operation");
    const query = g.nodes.find((n) => n.operation === "query")!;
    expect(query).toMatchObject({ service: "api", count: 2, errors: 1, total: 70 });
    expect(g.edges.map((e) => e.count)).toEqual([2, 1]);
  });
});

describe("traceLogs", () => {
  it("orders all logs by time and filters them", () => {
    const logs = traceLogs(model);
    expect(logs.map((l) => l.key)).toEqual(["d:0", "b:0"]);
    expect(logTitle(logs[0].log)).toBe("started early");
    expect(logs.filter((l) => logMatches(l, "RETRY")).map((l) => l.key)).toEqual(["b:0"]);
    expect(logs.filter((l) => logMatches(l, "api")).length).toBe(2);
  });
});

describe("nextSort", () => {
  it("flips the sorted column and starts numbers descending, text ascending", () => {
    expect(nextSort({ key: "a", desc: true }, "a", false)).toEqual({ key: "a", desc: false });
    expect(nextSort<"a" | "b">({ key: "a", desc: true }, "b", false)).toEqual({ key: "b", desc: true });
    expect(nextSort<"a" | "b">({ key: "a", desc: true }, "b", true)).toEqual({ key: "b", desc: false });
  });
});
