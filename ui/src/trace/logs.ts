// Every log (span event) of a trace in one chronological list, for the logs view.
import type { SpanNode, TraceModel } from "../model";
import type { Log } from "../types";

export interface TraceLogEntry {
  /** Unique within the trace: span ID and the log's index in the span. */
  key: string;
  node: SpanNode;
  log: Log;
}

/** All logs, ordered by timestamp; ties keep the spans' depth-first order. */
export function traceLogs(model: TraceModel): TraceLogEntry[] {
  const out: TraceLogEntry[] = [];
  for (const node of model.spans) {
    (node.span.logs ?? []).forEach((log, i) => out.push({ key: `${node.id}:${i}`, node, log }));
  }
  // Array.prototype.sort is stable, so equal timestamps stay in span order.
  return out.sort((a, b) => a.log.timestamp - b.log.timestamp);
}

/** Case-insensitive substring match over the fields, the service and the operation. */
export function logMatches(entry: TraceLogEntry, query: string): boolean {
  const needle = query.trim().toLowerCase();
  if (needle === "") return true;
  if (entry.node.service.toLowerCase().includes(needle)) return true;
  if (entry.node.span.operationName.toLowerCase().includes(needle)) return true;
  return entry.log.fields.some(({ key, value }) => `${key}=${String(value)}`.toLowerCase().includes(needle));
}

/** The short name of a log: its "event" (OTel event name) or "message" field, if any. */
export function logTitle(log: Log): string | undefined {
  const field = log.fields.find((f) => f.key === "event") ?? log.fields.find((f) => f.key === "message");
  return field === undefined ? undefined : String(field.value);
}
