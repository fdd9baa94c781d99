// The query API, called with URLs relative to <base href> so the UI works under base_path.
import { authorization } from "./credentials";
import type { DependencyLink, Envelope, Trace } from "./types";

export class ApiRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function get<T>(path: string, params?: URLSearchParams, signal?: AbortSignal): Promise<T> {
  const query = params && [...params.keys()].length > 0 ? `?${params}` : "";
  const response = await fetch(`${path}${query}`, {
    signal,
    headers: { Accept: "application/json", ...authorization(sessionStorage) },
  });
  const text = await response.text();
  let body: Envelope<T> | undefined;
  try {
    body = JSON.parse(text) as Envelope<T>;
  } catch {
    throw new ApiRequestError(`${response.status} ${response.statusText}: ${text.slice(0, 200)}`, response.status);
  }
  if (!response.ok || (body.errors && body.errors.length > 0 && body.data == null)) {
    const message = body.errors?.map((e) => e.msg).join("; ") || `${response.status} ${response.statusText}`;
    throw new ApiRequestError(message, response.status);
  }
  return body.data;
}

export const api = {
  services: (signal?: AbortSignal) => get<string[] | null>("api/services", undefined, signal).then((s) => s ?? []),
  operations: (service: string, signal?: AbortSignal) =>
    get<string[] | null>(`api/services/${encodeURIComponent(service)}/operations`, undefined, signal).then(
      (o) => o ?? [],
    ),
  /** Parameters as /api/traces takes them: service, operation, tags (JSON), start, end, lookback, ... */
  search: (params: URLSearchParams, signal?: AbortSignal) =>
    get<Trace[] | null>("api/traces", params, signal).then((t) => t ?? []),
  trace: (id: string, signal?: AbortSignal) =>
    get<Trace[]>(`api/traces/${encodeURIComponent(id)}`, undefined, signal).then((traces) => {
      if (!traces || traces.length === 0) throw new ApiRequestError(`trace ${id} not found`, 404);
      return traces[0];
    }),
  dependencies: (endTs: number, lookbackMs: number, signal?: AbortSignal) =>
    get<DependencyLink[] | null>(
      "api/dependencies",
      new URLSearchParams({ endTs: String(endTs), lookback: String(lookbackMs) }),
      signal,
    ).then((d) => d ?? []),
  /** Converts OTLP JSON (an ExportTraceServiceRequest) to Jaeger traces, as Jaeger's /api/transform. */
  transformOtlp: async (body: string): Promise<Trace[]> => {
    const response = await fetch("api/transform", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authorization(sessionStorage) },
      body,
    });
    const envelope = (await response.json()) as Envelope<Trace[]>;
    if (!response.ok) throw new ApiRequestError(envelope.errors?.[0]?.msg ?? response.statusText, response.status);
    return envelope.data ?? [];
  },
};
