// The service dependency graph's pure parts: which services a focus or a filter keeps, edge
// widths, table sorting and the dagre layout.
import dagre from "@dagrejs/dagre";
import type { DependencyLink } from "../types";

/** Every service named by the links, sorted. */
export function servicesOf(links: readonly DependencyLink[]): string[] {
  const names = new Set<string>();
  for (const l of links) names.add(l.parent).add(l.child);
  return [...names].sort();
}

/**
 * The services within `hops` calls of `focus`: downstream along the edges and upstream against
 * them (not sideways: a callee's other callers are not included). `hops` may be Infinity.
 */
export function neighbourhood(links: readonly DependencyLink[], focus: string, hops: number): Set<string> {
  const down = new Map<string, string[]>();
  const up = new Map<string, string[]>();
  for (const l of links) {
    if (!down.has(l.parent)) down.set(l.parent, []);
    if (!up.has(l.child)) up.set(l.child, []);
    down.get(l.parent)!.push(l.child);
    up.get(l.child)!.push(l.parent);
  }
  const keep = new Set([focus]);
  for (const adjacency of [down, up]) {
    const seen = new Set([focus]);
    let frontier = [focus];
    for (let depth = 0; depth < hops && frontier.length > 0; depth++) {
      const next: string[] = [];
      for (const service of frontier) {
        for (const other of adjacency.get(service) ?? []) {
          if (seen.has(other)) continue;
          seen.add(other);
          keep.add(other);
          next.push(other);
        }
      }
      frontier = next;
    }
  }
  return keep;
}

/** The links among `services`. */
export function linksWithin(links: readonly DependencyLink[], services: ReadonlySet<string>): DependencyLink[] {
  return links.filter((l) => services.has(l.parent) && services.has(l.child));
}

/** Services whose name contains the query (case-insensitive); empty query: none. */
export function matchServices(services: readonly string[], query: string): Set<string> {
  const q = query.trim().toLowerCase();
  return new Set(q ? services.filter((s) => s.toLowerCase().includes(q)) : []);
}

/** Stroke width for an edge: 1px to 8px, growing with log(callCount). */
export function edgeWidth(callCount: number, maxCallCount: number): number {
  if (maxCallCount <= 1) return 1.5;
  return 1 + (7 * Math.log(Math.max(callCount, 1))) / Math.log(maxCallCount);
}

export type LinkSortKey = "parent" | "child" | "callCount";

export function sortLinks(
  links: readonly DependencyLink[],
  key: LinkSortKey,
  descending: boolean,
): DependencyLink[] {
  const sign = descending ? -1 : 1;
  return [...links].sort((a, b) => {
    const primary = key === "callCount" ? a.callCount - b.callCount : a[key].localeCompare(b[key]);
    return sign * primary || a.parent.localeCompare(b.parent) || a.child.localeCompare(b.child);
  });
}

export interface LaidOutNode {
  name: string;
  /** The service calling itself: drawn as a badge on the node rather than a loop. */
  selfCall: DependencyLink | null;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface LaidOutEdge {
  link: DependencyLink;
  points: { x: number; y: number }[];
  /** Where the call count label goes. */
  label: { x: number; y: number };
}

export interface Layout {
  nodes: LaidOutNode[];
  edges: LaidOutEdge[];
  width: number;
  height: number;
}

export const NODE_HEIGHT = 32;
const CHAR_WIDTH = 7.5;

/** The width of a self-call badge ("↻ 27") on a node. */
export function selfCallWidth(link: DependencyLink): number {
  return 22 + link.callCount.toLocaleString().length * CHAR_WIDTH;
}

/**
 * Past this many edges, call counts are not given their own places in the layout (dagre then
 * has half the ranks to order) and the cheaper tight-tree ranker is used: a 130-service graph
 * with 1,400 edges takes about 1 s instead of 5 s.
 */
const BIG_GRAPH_EDGES = 150;

/**
 * Lays the graph out left to right (callers left of callees); nodes are as wide as their names
 * plus any self-call badge.
 */
export function layoutGraph(services: readonly string[], links: readonly DependencyLink[]): Layout {
  const calls = links.filter((l) => l.parent !== l.child);
  const big = calls.length > BIG_GRAPH_EDGES;
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({
    rankdir: "LR",
    nodesep: 16,
    ranksep: big ? 120 : 70,
    edgesep: 10,
    marginx: 20,
    marginy: 20,
    ranker: big ? "tight-tree" : "network-simplex",
  });
  g.setDefaultEdgeLabel(() => ({}));
  const selfCalls = new Map(links.filter((l) => l.parent === l.child).map((l) => [l.parent, l]));
  for (const name of services) {
    const self = selfCalls.get(name);
    g.setNode(name, { width: 28 + name.length * CHAR_WIDTH + (self ? selfCallWidth(self) : 0), height: NODE_HEIGHT });
  }
  for (const link of calls) {
    const label = big ? {} : { width: 8 + String(link.callCount).length * 7, height: 14, labelpos: "c" as const };
    g.setEdge(link.parent, link.child, { ...label, link });
  }
  dagre.layout(g);
  const nodes = services.map((name) => {
    const n = g.node(name);
    return { name, selfCall: selfCalls.get(name) ?? null, x: n.x, y: n.y, width: n.width, height: n.height };
  });
  const edges = g.edges().map((e) => {
    const edge = g.edge(e) as { points: { x: number; y: number }[]; x?: number; y?: number; link: DependencyLink };
    const middle = edge.points[Math.floor(edge.points.length / 2)];
    return { link: edge.link, points: edge.points, label: { x: edge.x ?? middle.x, y: edge.y ?? middle.y } };
  });
  const graph = g.graph();
  return { nodes, edges, width: graph.width ?? 0, height: graph.height ?? 0 };
}

export interface ServiceTraffic {
  name: string;
  /** Calls it makes to other services. */
  out: number;
  /** Calls other services make to it. */
  in: number;
}

/** Calls in and out per service (self-calls left out), busiest first. */
export function serviceTraffic(links: readonly DependencyLink[]): ServiceTraffic[] {
  const traffic = new Map<string, ServiceTraffic>();
  const get = (name: string) => {
    let t = traffic.get(name);
    if (!t) traffic.set(name, (t = { name, out: 0, in: 0 }));
    return t;
  };
  for (const l of links) {
    const parent = get(l.parent);
    const child = get(l.child);
    if (l.parent === l.child) continue;
    parent.out += l.callCount;
    child.in += l.callCount;
  }
  return [...traffic.values()].sort((a, b) => b.in + b.out - (a.in + a.out) || a.name.localeCompare(b.name));
}
