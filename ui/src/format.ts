// Durations, timestamps and time zones as every view shows them.

export type TimeZoneChoice = "local" | "utc";

/** µs → "812µs", "3.42ms", "1.5s", "2m 3s". */
export function formatDuration(micros: number): string {
  if (!Number.isFinite(micros)) return "–";
  const abs = Math.abs(micros);
  if (abs < 1000) return `${Math.round(micros)}µs`;
  if (abs < 1_000_000) return `${trim(micros / 1000)}ms`;
  if (abs < 60_000_000) return `${trim(micros / 1_000_000)}s`;
  const minutes = Math.floor(abs / 60_000_000);
  const seconds = Math.round((abs % 60_000_000) / 1_000_000);
  return `${micros < 0 ? "-" : ""}${minutes}m ${seconds}s`;
}

function trim(value: number): string {
  // Only zeros after the decimal point go: 100 stays "100", 1.50 becomes "1.5".
  return value.toFixed(Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2).replace(/\.0+$|(\.\d*?)0+$/, "$1");
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** µs since the epoch → "2026-11-25 21:33:07.123" in the chosen zone. */
export function formatTimestamp(micros: number, zone: TimeZoneChoice): string {
  const d = new Date(micros / 1000);
  const utc = zone === "utc";
  const date = `${utc ? d.getUTCFullYear() : d.getFullYear()}-${pad((utc ? d.getUTCMonth() : d.getMonth()) + 1)}-${pad(utc ? d.getUTCDate() : d.getDate())}`;
  const time = `${pad(utc ? d.getUTCHours() : d.getHours())}:${pad(utc ? d.getUTCMinutes() : d.getMinutes())}:${pad(utc ? d.getUTCSeconds() : d.getSeconds())}.${pad(utc ? d.getUTCMilliseconds() : d.getMilliseconds(), 3)}`;
  return `${date} ${time}${utc ? " UTC" : ""}`;
}

/** "3 minutes ago", for search results. */
export function formatRelative(micros: number, nowMs = Date.now()): string {
  const seconds = Math.round((nowMs - micros / 1000) / 1000);
  if (seconds < 60) return `${Math.max(seconds, 0)}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}
