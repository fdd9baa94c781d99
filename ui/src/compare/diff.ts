// The structural and latency diff of two traces. Each trace's span tree is folded into nodes
// keyed by the path of (service, operation) from the root, so repeated calls merge into one
// node with a count; the two folded trees are then merged side by side.
import type { SpanNode, TraceModel } from "../model";

export interface DiffSide {
  /** Spans at this path. */
  count: number;
  errors: number;
  /** Sum of their durations, µs. */
  total: number;
}

export type DiffStatus = "added" | "removed" | "changed" | "same";
export type LatencyChange = "slower" | "faster" | "similar";

export interface DiffNode {
  /** The path from the root, unique in the diff. */
  key: string;
  service: string;
  operation: string;
  depth: number;
  parent: DiffNode | null;
  children: DiffNode[];
  a: DiffSide;
  b: DiffSide;
  /** added: only in B; removed: only in A; changed: the counts differ. */
  status: DiffStatus;
}

export interface TraceDiff {
  roots: DiffNode[];
  /** Depth-first. */
  nodes: DiffNode[];
  counts: Record<DiffStatus, number>;
}

/** Relative change of the average duration beyond which a node counts as slower or faster. */
export const LATENCY_THRESHOLD = 0.1;

const SEP = "\u0000";
const emptySide = (): DiffSide => ({ count: 0, errors: 0, total: 0 });

export function average(side: DiffSide): number {
  return side.count > 0 ? side.total / side.count : 0;
}

/** B's average over A's, or null when either side has no spans here (or A's average is 0). */
export function latencyRatio(node: DiffNode): number | null {
  const a = average(node.a);
  return node.a.count > 0 && node.b.count > 0 && a > 0 ? average(node.b) / a : null;
}

export function latencyChange(node: DiffNode): LatencyChange | null {
  if (node.a.count === 0 || node.b.count === 0) return null;
  const a = average(node.a);
  const b = average(node.b);
  if (a === b) return "similar";
  if (a === 0) return "slower";
  const relative = (b - a) / a;
  return relative > LATENCY_THRESHOLD ? "slower" : relative < -LATENCY_THRESHOLD ? "faster" : "similar";
}

/** Compares two traces; A is the baseline. */
export function diffTraces(a: TraceModel, b: TraceModel): TraceDiff {
  const byKey = new Map<string, DiffNode>();
  const roots: DiffNode[] = [];

  const fold = (model: TraceModel, side: "a" | "b") => {
    // Iterative, as traces can be deep: [span, parent diff node].
    const stack: [SpanNode, DiffNode | null][] = model.roots.map((r) => [r, null]);
    while (stack.length > 0) {
      const [span, parent] = stack.pop()!;
      const key = `${parent ? parent.key + SEP + SEP : ""}${span.service}${SEP}${span.span.operationName}`;
      let node = byKey.get(key);
      if (!node) {
        node = {
          key,
          service: span.service,
          operation: span.span.operationName,
          depth: parent ? parent.depth + 1 : 0,
          parent,
          children: [],
          a: emptySide(),
          b: emptySide(),
          status: "same",
        };
        byKey.set(key, node);
        (parent ? parent.children : roots).push(node);
      }
      const s = node[side];
      s.count += 1;
      s.total += span.span.duration;
      if (span.error) s.errors += 1;
      for (const child of span.children) stack.push([child, node]);
    }
  };
  fold(a, "a");
  fold(b, "b");

  const counts: Record<DiffStatus, number> = { added: 0, removed: 0, changed: 0, same: 0 };
  const nodes: DiffNode[] = [];
  const order = (list: DiffNode[]) =>
    list.sort((x, y) => x.service.localeCompare(y.service) || x.operation.localeCompare(y.operation));
  const stack = [...order(roots)].reverse();
  while (stack.length > 0) {
    const node = stack.pop()!;
    node.status =
      node.a.count === 0 ? "added" : node.b.count === 0 ? "removed" : node.a.count !== node.b.count ? "changed" : "same";
    counts[node.status] += 1;
    nodes.push(node);
    for (const child of [...order(node.children)].reverse()) stack.push(child);
  }
  return { roots, nodes, counts };
}

/**
 * The nodes worth showing when only differences are wanted: those whose structure or latency
 * changed, with their ancestors so that each keeps its place in the tree.
 */
export function differingNodes(diff: TraceDiff): Set<DiffNode> {
  const keep = new Set<DiffNode>();
  for (const node of diff.nodes) {
    const change = latencyChange(node);
    if (node.status === "same" && change !== "slower" && change !== "faster") continue;
    for (let n: DiffNode | null = node; n && !keep.has(n); n = n.parent) keep.add(n);
  }
  return keep;
}
