// Finding spans inside one trace: a case-insensitive substring match over the operation,
// service, span ID, tags (as key, value or "key=value") and log fields.
import type { KeyValue } from "../types";
import type { SpanNode, TraceModel } from "../model";

function keyValuesMatch(fields: KeyValue[] | undefined, needle: string): boolean {
  if (!fields) return false;
  for (const { key, value } of fields) {
    if (`${key}=${String(value)}`.toLowerCase().includes(needle)) return true;
  }
  return false;
}

/** Whether the span matches `needle`, which must already be trimmed and lower-cased. */
export function spanMatches(node: SpanNode, needle: string): boolean {
  if (needle === "") return false;
  const span = node.span;
  return (
    span.operationName.toLowerCase().includes(needle) ||
    node.service.toLowerCase().includes(needle) ||
    span.spanID.toLowerCase().includes(needle) ||
    keyValuesMatch(span.tags, needle) ||
    (span.logs ?? []).some((log) => keyValuesMatch(log.fields, needle))
  );
}

/** The IDs of the spans matching `query`, in the model's depth-first order. */
export function findSpans(model: TraceModel, query: string): string[] {
  const needle = query.trim().toLowerCase();
  if (needle === "") return [];
  return model.spans.filter((node) => spanMatches(node, needle)).map((node) => node.id);
}

/** IDs of the span's ancestors, nearest first. */
export function ancestorIds(node: SpanNode): string[] {
  const out: string[] = [];
  for (let p = node.parent; p; p = p.parent) out.push(p.id);
  return out;
}
