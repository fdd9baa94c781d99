// A trace as the views use it: spans linked into a tree, in depth-first order, with times
// relative to the trace start, error flags, the critical path and per-operation statistics.
import type { KeyValue, Process, Span, Trace } from "./types";

export interface SpanNode {
  span: Span;
  id: string;
  parent: SpanNode | null;
  children: SpanNode[];
  depth: number;
  service: string;
  process: Process;
  /** Start relative to the trace start, in µs. */
  offset: number;
  error: boolean;
  /** Duration not covered by any child, in µs. */
  selfTime: number;
}

export interface ServiceSummary {
  name: string;
  spans: number;
  errors: number;
}

export interface TraceModel {
  trace: Trace;
  traceID: string;
  /** Depth-first, children by start time. */
  spans: SpanNode[];
  byId: Map<string, SpanNode>;
  roots: SpanNode[];
  start: number;
  end: number;
  duration: number;
  services: ServiceSummary[];
  errors: number;
  maxDepth: number;
  /** "service: operation" of the earliest root span. */
  name: string;
}

const UNKNOWN_PROCESS: Process = { serviceName: "unknown", tags: [] };

export function tagValue(tags: KeyValue[] | undefined, key: string): KeyValue["value"] | undefined {
  return tags?.find((t) => t.key === key)?.value;
}

export function isErrorSpan(span: Span): boolean {
  const error = tagValue(span.tags, "error");
  if (error === true || error === "true") return true;
  return tagValue(span.tags, "otel.status_code") === "ERROR";
}

/** The parent span ID: the first CHILD_OF reference in this trace, else the first reference. */
export function parentSpanId(span: Span): string | null {
  const refs = (span.references ?? []).filter((r) => r.traceID === span.traceID);
  return (refs.find((r) => r.refType === "CHILD_OF") ?? refs[0])?.spanID ?? null;
}

/** Total length of the union of intervals, clipped to [from, to]. */
function coveredLength(intervals: [number, number][], from: number, to: number): number {
  const clipped = intervals
    .map(([a, b]) => [Math.max(a, from), Math.min(b, to)] as [number, number])
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of clipped) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

export function buildModel(trace: Trace): TraceModel {
  const byId = new Map<string, SpanNode>();
  for (const span of trace.spans) {
    if (byId.has(span.spanID)) continue; // duplicate span IDs: keep the first, as Jaeger's dedupe adjuster
    const process = trace.processes[span.processID] ?? UNKNOWN_PROCESS;
    byId.set(span.spanID, {
      span,
      id: span.spanID,
      parent: null,
      children: [],
      depth: 0,
      service: process.serviceName,
      process,
      offset: 0,
      error: isErrorSpan(span),
      selfTime: span.duration,
    });
  }
  const nodes = [...byId.values()];
  const start = nodes.reduce((m, n) => Math.min(m, n.span.startTime), Infinity);
  const end = nodes.reduce((m, n) => Math.max(m, n.span.startTime + n.span.duration), -Infinity);
  const roots: SpanNode[] = [];
  for (const node of nodes) {
    node.offset = node.span.startTime - start;
    const parentId = parentSpanId(node.span);
    const parent = parentId !== null && parentId !== node.id ? byId.get(parentId) : undefined;
    if (parent) {
      node.parent = parent;
      parent.children.push(node);
    } else {
      roots.push(node);
    }
  }
  const byStart = (a: SpanNode, b: SpanNode) => a.span.startTime - b.span.startTime || a.id.localeCompare(b.id);
  roots.sort(byStart);

  // Depth-first order, iteratively (traces can be deep). A reference cycle leaves its spans
  // unreached; they are appended as roots so that no span disappears.
  const ordered: SpanNode[] = [];
  const seen = new Set<SpanNode>();
  const visit = (root: SpanNode) => {
    const stack: SpanNode[] = [root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (seen.has(node)) continue;
      seen.add(node);
      node.depth = node.parent && seen.has(node.parent) ? node.parent.depth + 1 : 0;
      ordered.push(node);
      node.children.sort(byStart);
      for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]);
    }
  };
  roots.forEach(visit);
  for (const node of nodes) {
    if (!seen.has(node)) {
      node.parent?.children.splice(node.parent.children.indexOf(node), 1);
      node.parent = null;
      roots.push(node);
      visit(node);
    }
  }

  for (const node of ordered) {
    const s = node.span;
    const childIntervals = node.children.map(
      (c) => [c.span.startTime, c.span.startTime + c.span.duration] as [number, number],
    );
    node.selfTime = s.duration - coveredLength(childIntervals, s.startTime, s.startTime + s.duration);
  }

  const services = new Map<string, ServiceSummary>();
  let errors = 0;
  let maxDepth = 0;
  for (const node of ordered) {
    const summary = services.get(node.service) ?? { name: node.service, spans: 0, errors: 0 };
    summary.spans += 1;
    if (node.error) {
      summary.errors += 1;
      errors += 1;
    }
    services.set(node.service, summary);
    maxDepth = Math.max(maxDepth, node.depth);
  }
  const first = roots[0];
  return {
    trace,
    traceID: trace.traceID,
    spans: ordered,
    byId,
    roots,
    start: Number.isFinite(start) ? start : 0,
    end: Number.isFinite(end) ? end : 0,
    duration: Number.isFinite(start) ? end - start : 0,
    services: [...services.values()].sort((a, b) => b.spans - a.spans || a.name.localeCompare(b.name)),
    errors,
    maxDepth,
    name: first ? `${first.service}: ${first.span.operationName}` : "(empty trace)",
  };
}

/** The spans shown when the subtrees under `collapsed` span IDs are folded away. */
export function visibleSpans(model: TraceModel, collapsed: ReadonlySet<string>): SpanNode[] {
  if (collapsed.size === 0) return model.spans;
  const out: SpanNode[] = [];
  let hiddenBelowDepth = Infinity;
  for (const node of model.spans) {
    if (node.depth > hiddenBelowDepth) continue;
    hiddenBelowDepth = Infinity;
    out.push(node);
    if (collapsed.has(node.id) && node.children.length > 0) hiddenBelowDepth = node.depth;
  }
  return out;
}

/** A stretch of a span on the critical path, in absolute µs. */
export interface CriticalSegment {
  spanId: string;
  start: number;
  end: number;
}

/**
 * The critical path, as Jaeger UI computes it: from each span's end walk back through the child
 * that finished last before the current point, clipping children to their parent's end. The
 * stretches in between belong to the parent itself.
 */
export function criticalPath(model: TraceModel): CriticalSegment[] {
  const segments: CriticalSegment[] = [];
  const root = model.roots.reduce<SpanNode | null>(
    (best, r) => (best === null || r.span.duration > best.span.duration ? r : best),
    null,
  );
  if (!root) return segments;
  // Explicit stack of [node, window end] to stay iterative on deep traces.
  const stack: [SpanNode, number][] = [[root, root.span.startTime + root.span.duration]];
  while (stack.length > 0) {
    const [node, windowEnd] = stack.pop()!;
    const spanStart = node.span.startTime;
    let cursor = windowEnd;
    const children = [...node.children].sort(
      (a, b) => b.span.startTime + b.span.duration - (a.span.startTime + a.span.duration),
    );
    for (const child of children) {
      const childStart = child.span.startTime;
      const childEnd = Math.min(childStart + child.span.duration, cursor);
      if (childEnd <= spanStart || childStart >= cursor) continue;
      if (childEnd < cursor) segments.push({ spanId: node.id, start: childEnd, end: cursor });
      stack.push([child, childEnd]);
      cursor = Math.max(childStart, spanStart);
    }
    if (cursor > spanStart) segments.push({ spanId: node.id, start: spanStart, end: cursor });
  }
  return segments.sort((a, b) => a.start - b.start);
}

export interface OperationStats {
  service: string;
  operation: string;
  count: number;
  errors: number;
  total: number;
  min: number;
  max: number;
  selfTotal: number;
}

/** Span count, durations and self time per service and operation. */
export function operationStats(model: TraceModel): OperationStats[] {
  const stats = new Map<string, OperationStats>();
  for (const node of model.spans) {
    const key = `${node.service}\u0000${node.span.operationName}`;
    const d = node.span.duration;
    const s = stats.get(key) ?? {
      service: node.service,
      operation: node.span.operationName,
      count: 0,
      errors: 0,
      total: 0,
      min: Infinity,
      max: 0,
      selfTotal: 0,
    };
    s.count += 1;
    s.errors += node.error ? 1 : 0;
    s.total += d;
    s.min = Math.min(s.min, d);
    s.max = Math.max(s.max, d);
    s.selfTotal += node.selfTime;
    stats.set(key, s);
  }
  return [...stats.values()].sort((a, b) => b.total - a.total);
}
