// Traces loaded from a file rather than the API. They live for the page's lifetime, and the
// trace and compare pages look here before asking the server.
import { api } from "./api";
import type { Trace } from "./types";

const traces = new Map<string, Trace>();

export function localTrace(id: string): Trace | undefined {
  return traces.get(id.toLowerCase());
}

export function addLocalTraces(list: Trace[]): void {
  for (const trace of list) traces.set(trace.traceID.toLowerCase(), trace);
}

export function isJaegerTrace(value: unknown): value is Trace {
  const t = value as Trace;
  return typeof t === "object" && t !== null && typeof t.traceID === "string" && Array.isArray(t.spans);
}

/**
 * Reads a file's text as traces. Jaeger's formats: `{data: [trace...]}` (what /api/traces
 * returns), one trace object, or an array of them. OTLP JSON (`{resourceSpans: [...]}`) is
 * converted by the server's /api/transform, as in Jaeger UI.
 */
export async function parseTraceFile(text: string): Promise<Trace[]> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${(e as Error).message}`);
  }
  const candidates: unknown[] = Array.isArray(json)
    ? json
    : typeof json === "object" && json !== null && Array.isArray((json as { data?: unknown }).data)
      ? (json as { data: unknown[] }).data
      : [json];
  if (candidates.every(isJaegerTrace) && candidates.length > 0) {
    return candidates.map((t) => ({ ...t, processes: t.processes ?? {}, warnings: t.warnings ?? null }));
  }
  if (typeof json === "object" && json !== null && "resourceSpans" in json) {
    return api.transformOtlp(text);
  }
  throw new Error("neither Jaeger trace JSON ({data:[...]}) nor OTLP JSON ({resourceSpans:[...]})");
}

/** Fetches a trace from the local store or, failing that, the API. */
export async function loadTrace(id: string, signal?: AbortSignal): Promise<Trace> {
  return localTrace(id) ?? api.trace(id, signal);
}
