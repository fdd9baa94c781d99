// The trace as a graph: services (or service + operation pairs) as nodes and parent → child
// calls between them as edges, with counts, for the trace graph view.
import type { SpanNode, TraceModel } from "../model";

export interface GraphNode {
  id: string;
  service: string;
  /** The operation, for operation-level nodes. */
  operation?: string;
  count: number;
  errors: number;
  /** Summed span durations, µs. */
  total: number;
  /** Summed self times, µs. */
  self: number;
}

export interface GraphEdge {
  from: string;
  to: string;
  count: number;
}

export interface GraphData {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export type GraphLevel = "service" | "operation";

function nodeKey(node: SpanNode, level: GraphLevel): string {
  return level === "service" ? node.service : `${node.service}\u0000${node.span.operationName}`;
}

/**
 * Aggregates the spans into nodes per service or per service and operation. Every parent → child
 * span pair becomes an edge between their nodes; calls inside one node (a service calling itself,
 * a recursive operation) are left out, as they would only draw loops.
 */
export function traceGraph(model: TraceModel, level: GraphLevel): GraphData {
  const nodes = new Map<string, GraphNode>();
  const edges = new Map<string, GraphEdge>();
  for (const span of model.spans) {
    const id = nodeKey(span, level);
    let node = nodes.get(id);
    if (!node) {
      node = { id, service: span.service, count: 0, errors: 0, total: 0, self: 0 };
      if (level === "operation") node.operation = span.span.operationName;
      nodes.set(id, node);
    }
    node.count += 1;
    node.errors += span.error ? 1 : 0;
    node.total += span.span.duration;
    node.self += span.selfTime;
    if (span.parent) {
      const from = nodeKey(span.parent, level);
      if (from === id) continue;
      const key = `${from}\u0001${id}`;
      const edge = edges.get(key) ?? { from, to: id, count: 0 };
      edge.count += 1;
      edges.set(key, edge);
    }
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}
