// Search results as the list and the scatter plot show them, and their sort orders.
import { buildModel, type ServiceSummary } from "../model";
import type { Trace } from "../types";

export interface TraceSummary {
  traceID: string;
  /** "service: operation" of the root span. */
  name: string;
  /** µs since the epoch. */
  start: number;
  /** µs. */
  duration: number;
  spans: number;
  errors: number;
  services: ServiceSummary[];
}

export function summarize(trace: Trace): TraceSummary {
  const model = buildModel(trace);
  return {
    traceID: model.traceID,
    name: model.name,
    start: model.start,
    duration: model.duration,
    spans: model.spans.length,
    errors: model.errors,
    services: model.services,
  };
}

export const SORT_ORDERS = {
  recent: "Most recent",
  longest: "Longest first",
  shortest: "Shortest first",
  "most-spans": "Most spans",
  "fewest-spans": "Fewest spans",
} as const;

export type SortOrder = keyof typeof SORT_ORDERS;

export function isSortOrder(value: string | null): value is SortOrder {
  return value !== null && Object.hasOwn(SORT_ORDERS, value);
}

const compare: Record<SortOrder, (a: TraceSummary, b: TraceSummary) => number> = {
  recent: (a, b) => b.start - a.start,
  longest: (a, b) => b.duration - a.duration,
  shortest: (a, b) => a.duration - b.duration,
  "most-spans": (a, b) => b.spans - a.spans,
  "fewest-spans": (a, b) => a.spans - b.spans,
};

/** A sorted copy; ties fall back to the most recent, then the trace ID, so the order is stable. */
export function sortSummaries(list: readonly TraceSummary[], order: SortOrder): TraceSummary[] {
  return [...list].sort(
    (a, b) => compare[order](a, b) || b.start - a.start || a.traceID.localeCompare(b.traceID),
  );
}
