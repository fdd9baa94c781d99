// The search form and its URL, kept as Jaeger UI keeps them (/search?service=…&operation=…
// &tags={"k":"v"}&lookback=1h&start=…&end=…&minDuration=…&maxDuration=…&limit=20), plus the
// pieces the form validates: logfmt tags and Go-style durations.
import type { TimeZoneChoice } from "../format";

export const LOOKBACKS: { value: string; label: string }[] = [
  { value: "5m", label: "Last 5 minutes" },
  { value: "15m", label: "Last 15 minutes" },
  { value: "30m", label: "Last 30 minutes" },
  { value: "1h", label: "Last hour" },
  { value: "2h", label: "Last 2 hours" },
  { value: "6h", label: "Last 6 hours" },
  { value: "12h", label: "Last 12 hours" },
  { value: "24h", label: "Last 24 hours" },
  { value: "2d", label: "Last 2 days" },
  { value: "7d", label: "Last 7 days" },
  { value: "custom", label: "Custom range…" },
];

export const DEFAULT_LIMIT = 20;

/** The form as the user edits it: all strings, validated on submit. */
export interface SearchForm {
  service: string;
  /** "" means all operations. */
  operation: string;
  /** logfmt, e.g. `http.status_code=500 error=true`. */
  tags: string;
  /** A LOOKBACKS value, or another span such as "3h" taken from a URL. */
  lookback: string;
  /** For lookback "custom": `datetime-local` values in the chosen time zone. */
  start: string;
  end: string;
  minDuration: string;
  maxDuration: string;
  limit: string;
}

// ---- logfmt ------------------------------------------------------------------------------

export type Tags = Record<string, string>;

/**
 * Parses logfmt (`a=1 b="two words" flag`) into string tags, as Jaeger UI does: a bare key means
 * "true", and later keys win. Throws with the position of the first problem.
 */
export function parseLogfmt(text: string): Tags {
  const tags: Tags = {};
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && /\s/.test(text[i])) i++;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && text[i] !== "=" && !/\s/.test(text[i])) {
      if (text[i] === '"') throw new Error(`unexpected quote in a key at column ${i + 1}`);
      i++;
    }
    const key = text.slice(keyStart, i);
    if (key === "") throw new Error(`missing key before "=" at column ${i + 1}`);
    if (i >= n || text[i] !== "=") {
      tags[key] = "true";
      continue;
    }
    i++; // "="
    if (text[i] === '"') {
      const quote = i++;
      let value = "";
      while (i < n && text[i] !== '"') {
        if (text[i] === "\\" && i + 1 < n) i++;
        value += text[i++];
      }
      if (i >= n) throw new Error(`unterminated quote at column ${quote + 1}`);
      i++; // closing quote
      if (i < n && !/\s/.test(text[i])) throw new Error(`expected a space after the quoted value at column ${i + 1}`);
      tags[key] = value;
    } else {
      const valueStart = i;
      while (i < n && !/\s/.test(text[i])) {
        if (text[i] === '"') throw new Error(`unexpected quote at column ${i + 1}; quote the whole value`);
        i++;
      }
      tags[key] = text.slice(valueStart, i);
    }
  }
  return tags;
}

/** Tags back to logfmt, quoting values that need it. */
export function formatLogfmt(tags: Tags): string {
  return Object.entries(tags)
    .map(([k, v]) => (v === "" || /[\s"=\\]/.test(v) ? `${k}="${v.replace(/["\\]/g, "\\$&")}"` : `${k}=${v}`))
    .join(" ");
}

/**
 * The URL's tags parameter as logfmt for the form: Jaeger UI writes a JSON object; logfmt is
 * accepted as well. Repeated `tag=k:v` parameters (the API's other form) are merged in.
 */
export function tagsFromUrl(params: URLSearchParams): string {
  const raw = params.get("tags") ?? "";
  let tags: Tags = {};
  const trimmed = raw.trim();
  if (trimmed.startsWith("{")) {
    try {
      const json = JSON.parse(trimmed) as Record<string, unknown>;
      for (const [k, v] of Object.entries(json)) tags[k] = typeof v === "string" ? v : JSON.stringify(v);
    } catch {
      return raw;
    }
  } else if (trimmed !== "") {
    try {
      tags = parseLogfmt(trimmed);
    } catch {
      return raw; // shown as typed, with the parse error, rather than silently dropped
    }
  }
  for (const tag of params.getAll("tag")) {
    const colon = tag.indexOf(":");
    if (colon > 0) tags[tag.slice(0, colon)] = tag.slice(colon + 1);
  }
  return formatLogfmt(tags);
}

// ---- durations ---------------------------------------------------------------------------

const UNIT_MICROS: Record<string, number> = {
  ns: 0.001,
  us: 1,
  µs: 1,
  μs: 1,
  ms: 1000,
  s: 1_000_000,
  m: 60_000_000,
  h: 3_600_000_000,
};

/** A Go duration ("10ms", "1.5s", "1h30m", as the API parses them) in µs; throws if malformed. */
export function parseDuration(text: string): number {
  const s = text.trim();
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let i = 0;
  if (s === "") throw new Error("empty duration");
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m) throw new Error(`"${text}" is not a duration like 10ms, 1.5s or 1h30m`);
    total += parseFloat(m[1]) * UNIT_MICROS[m[2]];
    i = re.lastIndex;
  }
  return total;
}

/** A lookback in µs: a Go duration, or whole days/weeks as Jaeger UI writes them ("2d", "1w"). */
export function parseLookback(text: string): number {
  const m = /^(\d+)([dw])$/.exec(text.trim());
  if (m) return Number(m[1]) * (m[2] === "d" ? 1 : 7) * 86_400_000_000;
  return parseDuration(text);
}

// ---- time zones --------------------------------------------------------------------------

const pad = (n: number) => String(n).padStart(2, "0");

/** µs since the epoch → a `datetime-local` value ("2026-11-25T21:33") in the zone. */
export function toDateTimeInput(micros: number, zone: TimeZoneChoice): string {
  const d = new Date(micros / 1000);
  if (zone === "utc") {
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  }
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A `datetime-local` value read in the zone → µs since the epoch, or NaN. */
export function fromDateTimeInput(value: string, zone: TimeZoneChoice): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return NaN;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0));
  const ms = zone === "utc" ? Date.UTC(y, mo - 1, d, h, mi, s) : new Date(y, mo - 1, d, h, mi, s).getTime();
  return ms * 1000;
}

// ---- URL ⇄ form ⇄ API --------------------------------------------------------------------

/** The form as a URL describes it; missing parameters take Jaeger UI's defaults. */
export function formFromUrl(params: URLSearchParams, zone: TimeZoneChoice): SearchForm {
  const lookback = params.get("lookback") || "1h";
  const micros = (key: string) => {
    const v = Number(params.get(key));
    return params.get(key) && Number.isFinite(v) ? toDateTimeInput(v, zone) : "";
  };
  const operation = params.get("operation") ?? "";
  return {
    service: params.get("service") ?? "",
    operation: operation === "all" ? "" : operation,
    tags: tagsFromUrl(params),
    lookback,
    start: lookback === "custom" ? micros("start") : "",
    end: lookback === "custom" ? micros("end") : "",
    minDuration: params.get("minDuration") ?? "",
    maxDuration: params.get("maxDuration") ?? "",
    limit: params.get("limit") || String(DEFAULT_LIMIT),
  };
}

export type FormErrors = Partial<Record<keyof SearchForm, string>>;

/**
 * Validates the form and builds the URL parameters as Jaeger UI writes them: start and end in
 * µs (computed from the lookback at `nowMs`), tags as a JSON object. The same parameters are
 * what /api/traces takes.
 */
export function formToUrl(
  form: SearchForm,
  zone: TimeZoneChoice,
  nowMs = Date.now(),
): { params: URLSearchParams } | { errors: FormErrors } {
  const errors: FormErrors = {};
  if (!form.service) errors.service = "Choose a service";
  let tags: Tags = {};
  try {
    tags = parseLogfmt(form.tags);
  } catch (e) {
    errors.tags = (e as Error).message;
  }
  const durations: Partial<Record<"minDuration" | "maxDuration", number>> = {};
  for (const key of ["minDuration", "maxDuration"] as const) {
    if (form[key].trim() === "") continue;
    try {
      durations[key] = parseDuration(form[key]);
    } catch (e) {
      errors[key] = (e as Error).message;
    }
  }
  if (durations.minDuration !== undefined && durations.maxDuration !== undefined) {
    if (durations.minDuration > durations.maxDuration) errors.maxDuration = "Max duration is below min duration";
  }
  const limit = Number(form.limit);
  if (!Number.isInteger(limit) || limit < 1) errors.limit = "A whole number of traces, at least 1";
  let start: number;
  let end: number;
  if (form.lookback === "custom") {
    start = fromDateTimeInput(form.start, zone);
    end = form.end ? fromDateTimeInput(form.end, zone) : nowMs * 1000;
    if (!Number.isFinite(start)) errors.start = "Pick a start time";
    if (!Number.isFinite(end)) errors.end = "Pick an end time";
    else if (Number.isFinite(start) && start >= end) errors.end = "End is before start";
  } else {
    end = nowMs * 1000;
    try {
      start = end - parseLookback(form.lookback);
    } catch (e) {
      start = NaN;
      errors.lookback = (e as Error).message;
    }
  }
  if (Object.keys(errors).length > 0) return { errors };

  const params = new URLSearchParams();
  params.set("service", form.service);
  if (form.operation) params.set("operation", form.operation);
  if (Object.keys(tags).length > 0) params.set("tags", JSON.stringify(tags));
  params.set("lookback", form.lookback);
  params.set("start", String(Math.round(start)));
  params.set("end", String(Math.round(end)));
  if (form.minDuration.trim()) params.set("minDuration", form.minDuration.trim());
  if (form.maxDuration.trim()) params.set("maxDuration", form.maxDuration.trim());
  params.set("limit", String(limit));
  return { params };
}

/**
 * The /api/traces parameters for a search URL, or null when it names no service (nothing to
 * run). Tags typed as logfmt in a hand-written URL are converted to JSON; a URL without start
 * counts its lookback back from end or now (the API itself ignores lookback). Throws on
 * malformed tags or lookback.
 */
export function apiParamsFromUrl(url: URLSearchParams, nowMs = Date.now()): URLSearchParams | null {
  if (!url.get("service")) return null;
  const params = new URLSearchParams();
  for (const key of ["service", "operation", "start", "end", "minDuration", "maxDuration", "limit"]) {
    const value = url.get(key);
    if (value && !(key === "operation" && value === "all")) params.set(key, value);
  }
  const tags = tagsFromUrl(url);
  if (tags) params.set("tags", JSON.stringify(parseLogfmt(tags)));
  if (!params.has("start")) {
    const lookback = url.get("lookback");
    const end = params.has("end") ? Number(params.get("end")) : nowMs * 1000;
    params.set("end", String(end));
    params.set("start", String(end - parseLookback(lookback && lookback !== "custom" ? lookback : "1h")));
  }
  if (!params.has("limit")) params.set("limit", String(DEFAULT_LIMIT));
  return params;
}
