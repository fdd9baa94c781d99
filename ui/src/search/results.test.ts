import { describe, expect, it } from "vitest";
import type { Trace } from "../types";
import { isSortOrder, sortSummaries, summarize, type TraceSummary } from "./results";

const summary = (traceID: string, start: number, duration: number, spans: number): TraceSummary => ({
  traceID,
  name: traceID,
  start,
  duration,
  spans,
  errors: 0,
  services: [],
});

const LIST = [summary("a", 100, 50, 3), summary("b", 300, 10, 9), summary("c", 200, 50, 1), summary("d", 300, 70, 9)];
const ids = (list: TraceSummary[]) => list.map((t) => t.traceID).join("");

describe("sortSummaries", () => {
  it("sorts by each order, ties by recency then ID", () => {
    expect(ids(sortSummaries(LIST, "recent"))).toBe("bdca");
    expect(ids(sortSummaries(LIST, "longest"))).toBe("dcab");
    expect(ids(sortSummaries(LIST, "shortest"))).toBe("bcad");
    expect(ids(sortSummaries(LIST, "most-spans"))).toBe("bdac");
    expect(ids(sortSummaries(LIST, "fewest-spans"))).toBe("cabd");
  });
  it("leaves the input alone", () => {
    sortSummaries(LIST, "longest");
    expect(ids(LIST)).toBe("abcd");
  });
  it("knows its orders", () => {
    expect(isSortOrder("longest")).toBe(true);
    expect(isSortOrder("toString")).toBe(false);
    expect(isSortOrder(null)).toBe(false);
  });
});

describe("summarize", () => {
  it("takes the root's name and counts spans, errors and services", () => {
    const trace: Trace = {
      traceID: "t1",
      processes: { p1: { serviceName: "front", tags: [] }, p2: { serviceName: "db", tags: [] } },
      warnings: null,
      spans: [
        { traceID: "t1", spanID: "1", operationName: "GET /", references: [], startTime: 1000, duration: 500, tags: [], logs: [], processID: "p1", warnings: null },
        {
          traceID: "t1",
          spanID: "2",
          operationName: "query",
          references: [{ refType: "CHILD_OF", traceID: "t1", spanID: "1" }],
          startTime: 1100,
          duration: 600,
          tags: [{ key: "error", type: "bool", value: true }],
          logs: [],
          processID: "p2",
          warnings: null,
        },
      ],
    };
    expect(summarize(trace)).toMatchObject({ traceID: "t1", name: "front: GET /", start: 1000, duration: 700, spans: 2, errors: 1 });
    expect(summarize(trace).services.map((s) => s.name)).toEqual(["db", "front"]);
  });
});
