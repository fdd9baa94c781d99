// The Jaeger query API's JSON, as /api/traces and /api/traces/{id} return it.

export type TagType = "string" | "bool" | "int64" | "float64" | "binary";

export interface KeyValue {
  key: string;
  type: TagType;
  value: string | number | boolean;
}

export interface Log {
  /** Microseconds since the epoch. */
  timestamp: number;
  fields: KeyValue[];
}

export interface Reference {
  refType: "CHILD_OF" | "FOLLOWS_FROM";
  traceID: string;
  spanID: string;
}

export interface Process {
  serviceName: string;
  tags: KeyValue[];
}

export interface Span {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Reference[];
  flags?: number;
  /** Microseconds since the epoch. */
  startTime: number;
  /** Microseconds. */
  duration: number;
  tags: KeyValue[];
  logs: Log[];
  processID: string;
  warnings: string[] | null;
}

export interface Trace {
  traceID: string;
  spans: Span[];
  processes: Record<string, Process>;
  warnings: string[] | null;
}

export interface ApiError {
  code: number;
  msg: string;
  traceID?: string;
}

export interface Envelope<T> {
  data: T;
  total: number;
  limit: number;
  offset: number;
  errors: ApiError[] | null;
}

export interface DependencyLink {
  parent: string;
  child: string;
  callCount: number;
}
