import { describe, expect, it } from "vitest";
import { buildModel } from "../model";
import type { Span, Trace } from "../types";
import { diffTraces, differingNodes, latencyChange, latencyRatio } from "./diff";

/** [spanID, parentID, service, operation, duration µs, error?] */
type Row = [string, string | null, string, string, number, boolean?];

function trace(id: string, rows: Row[]): Trace {
  const services = [...new Set(rows.map((r) => r[2]))];
  const spans: Span[] = rows.map(([spanID, parent, service, op, duration, error], i) => ({
    traceID: id,
    spanID,
    operationName: op,
    references: parent ? [{ refType: "CHILD_OF", traceID: id, spanID: parent }] : [],
    startTime: 1000 + i,
    duration,
    tags: error ? [{ key: "error", type: "bool", value: true }] : [],
    logs: [],
    processID: `p${services.indexOf(service)}`,
    warnings: null,
  }));
  const processes = Object.fromEntries(services.map((s, i) => [`p${i}`, { serviceName: s, tags: [] }]));
  return { traceID: id, spans, processes, warnings: null };
}

const A = trace("a", [
  ["1", null, "front", "GET /", 1000],
  ["2", "1", "api", "list", 400],
  ["3", "1", "api", "list", 200],
  ["4", "2", "db", "select", 100],
  ["5", "1", "cache", "get", 10],
]);
const B = trace("b", [
  ["1", null, "front", "GET /", 2000],
  ["2", "1", "api", "list", 900, true],
  ["4", "2", "db", "select", 105],
  ["6", "2", "db", "insert", 50],
]);

describe("diffTraces", () => {
  const diff = diffTraces(buildModel(A), buildModel(B));
  const node = (operation: string) => diff.nodes.find((n) => n.operation === operation)!;

  it("folds repeated paths and merges both sides", () => {
    expect(diff.roots).toHaveLength(1);
    expect(diff.nodes.map((n) => `${"  ".repeat(n.depth)}${n.service}:${n.operation}`)).toEqual([
      "front:GET /",
      "  api:list",
      "    db:insert",
      "    db:select",
      "  cache:get",
    ]);
    const list = node("list");
    expect(list.a).toEqual({ count: 2, errors: 0, total: 600 });
    expect(list.b).toEqual({ count: 1, errors: 1, total: 900 });
  });

  it("classifies structure", () => {
    expect(Object.fromEntries(diff.nodes.map((n) => [n.operation, n.status]))).toEqual({
      "GET /": "same",
      list: "changed",
      select: "same",
      insert: "added",
      get: "removed",
    });
    expect(diff.counts).toEqual({ added: 1, removed: 1, changed: 1, same: 2 });
  });

  it("compares average latency", () => {
    const root = diff.roots[0];
    expect(latencyRatio(root)).toBe(2);
    expect(latencyChange(root)).toBe("slower");
    const list = node("list");
    expect(latencyRatio(list)).toBe(3); // 900 vs 300 on average
    const select = node("select");
    expect(latencyChange(select)).toBe("similar"); // 100 → 105 is within 10%
    const insert = node("insert");
    expect(latencyChange(insert)).toBeNull();
    expect(latencyRatio(insert)).toBeNull();
  });

  it("marks faster nodes", () => {
    const d = diffTraces(buildModel(B), buildModel(A));
    expect(latencyChange(d.roots[0])).toBe("faster");
  });

  it("keeps differing nodes with their ancestors", () => {
    const same = diffTraces(buildModel(A), buildModel(A));
    expect(same.counts).toEqual({ added: 0, removed: 0, changed: 0, same: 4 });
    expect(differingNodes(same).size).toBe(0);
    const kept = differingNodes(diff);
    expect([...kept].map((n) => n.operation).sort()).toEqual(["GET /", "get", "insert", "list"]);
  });

  it("handles traces with several roots and empty traces", () => {
    const two = trace("c", [
      ["1", null, "x", "a", 1],
      ["2", null, "y", "b", 1],
    ]);
    const d = diffTraces(buildModel(two), buildModel(trace("d", [])));
    expect(d.roots.map((r) => r.status)).toEqual(["removed", "removed"]);
  });
});
