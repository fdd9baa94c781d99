import { describe, expect, it } from "vitest";
import type { DependencyLink } from "../types";
import { edgeWidth, layoutGraph, linksWithin, matchServices, neighbourhood, serviceTraffic, servicesOf, sortLinks } from "./graph";

const link = (parent: string, child: string, callCount = 1): DependencyLink => ({ parent, child, callCount });

// gateway → front → api → db, api → cache, batch → api, front → front, api ↔ auth
const LINKS = [
  link("gateway", "front", 100),
  link("front", "api", 80),
  link("api", "db", 300),
  link("api", "cache", 5),
  link("batch", "api", 2),
  link("front", "front", 7),
  link("api", "auth", 1),
  link("auth", "api", 1),
];

describe("neighbourhood", () => {
  it("goes upstream and downstream, not sideways", () => {
    expect([...neighbourhood(LINKS, "front", 1)].sort()).toEqual(["api", "front", "gateway"]);
    // batch calls api too, but it is neither upstream nor downstream of front.
    expect([...neighbourhood(LINKS, "front", 2)].sort()).toEqual(["api", "auth", "cache", "db", "front", "gateway"]);
    expect([...neighbourhood(LINKS, "db", 2)].sort()).toEqual(["api", "auth", "batch", "db", "front"]);
  });
  it("follows cycles without looping, and all hops", () => {
    expect([...neighbourhood(LINKS, "auth", Infinity)].sort()).toEqual(servicesOf(LINKS));
    expect([...neighbourhood(LINKS, "nobody", 3)]).toEqual(["nobody"]);
  });
  it("restricts links to the kept services", () => {
    expect(linksWithin(LINKS, neighbourhood(LINKS, "db", 1))).toEqual([link("api", "db", 300)]);
  });
});

describe("helpers", () => {
  it("matches services by substring, ignoring case", () => {
    expect([...matchServices(servicesOf(LINKS), " A")].sort()).toEqual(["api", "auth", "batch", "cache", "gateway"]);
    expect(matchServices(servicesOf(LINKS), "  ").size).toBe(0);
  });
  it("scales edge width with log(calls)", () => {
    expect(edgeWidth(1, 1000)).toBe(1);
    expect(edgeWidth(1000, 1000)).toBe(8);
    expect(edgeWidth(31, 1000)).toBeCloseTo(1 + 7 * (Math.log(31) / Math.log(1000)));
    expect(edgeWidth(1, 1)).toBe(1.5);
  });
  it("sorts links by a column with stable ties", () => {
    expect(sortLinks(LINKS, "callCount", true).map((l) => l.callCount)).toEqual([300, 100, 80, 7, 5, 2, 1, 1]);
    expect(sortLinks(LINKS, "callCount", false).slice(0, 2)).toEqual([link("api", "auth", 1), link("auth", "api", 1)]);
    expect(sortLinks(LINKS, "child", false)[0]).toEqual(link("auth", "api", 1));
    expect(sortLinks(LINKS, "parent", true)[0].parent).toBe("gateway");
  });
});

describe("layoutGraph", () => {
  it("places every node and edge, callers left of callees", () => {
    const layout = layoutGraph(servicesOf(LINKS), LINKS);
    expect(layout.nodes).toHaveLength(7);
    // front → front is a badge on its node, not an edge.
    expect(layout.edges).toHaveLength(LINKS.length - 1);
    expect(layout.nodes.find((n) => n.name === "front")!.selfCall).toEqual(link("front", "front", 7));
    expect(layout.nodes.find((n) => n.name === "api")!.selfCall).toBeNull();
    const x = (name: string) => layout.nodes.find((n) => n.name === name)!.x;
    expect(x("gateway")).toBeLessThan(x("front"));
    expect(x("front")).toBeLessThan(x("api"));
    for (const e of layout.edges) {
      expect(e.points.length).toBeGreaterThan(1);
      expect(Number.isFinite(e.label.x) && Number.isFinite(e.label.y)).toBe(true);
    }
    expect(layout.width).toBeGreaterThan(0);
  });
  it("copes with 150 services", () => {
    const many = Array.from({ length: 300 }, (_, i) => link(`svc-${i % 150}`, `svc-${(i * 7 + 3) % 150}`, i + 1));
    const started = performance.now();
    const layout = layoutGraph(servicesOf(many), many);
    expect(layout.nodes).toHaveLength(150);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});

describe("serviceTraffic", () => {
  it("sums calls in and out, busiest first, ignoring self-calls", () => {
    const traffic = serviceTraffic(LINKS);
    expect(traffic[0]).toEqual({ name: "api", out: 306, in: 83 });
    expect(traffic.find((t) => t.name === "front")).toEqual({ name: "front", out: 80, in: 100 });
    expect(traffic.map((t) => t.name)).toHaveLength(7);
  });
});
