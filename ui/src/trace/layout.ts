// Pure geometry for the timeline: time ticks, zoom windows and per-span precomputation.
import type { CriticalSegment, TraceModel } from "../model";

/** A window on the trace as fractions of its duration, 0 ≤ from < to ≤ 1. */
export interface ViewRange {
  from: number;
  to: number;
}

export const FULL_RANGE: ViewRange = { from: 0, to: 1 };

/** The smallest window a brush can make, so that bars never become infinitely wide. */
const MIN_SPAN = 0.0005;

/** Orders and clamps two fractions into a valid window. */
export function normalizeRange(a: number, b: number): ViewRange {
  let from = Math.max(0, Math.min(a, b));
  let to = Math.min(1, Math.max(a, b));
  if (to - from < MIN_SPAN) {
    const mid = Math.min(Math.max((from + to) / 2, MIN_SPAN / 2), 1 - MIN_SPAN / 2);
    from = mid - MIN_SPAN / 2;
    to = mid + MIN_SPAN / 2;
  }
  return { from, to };
}

/** Moves a window by `delta` (a fraction) without changing its width or leaving [0, 1]. */
export function shiftRange(range: ViewRange, delta: number): ViewRange {
  const width = range.to - range.from;
  const from = Math.min(Math.max(range.from + delta, 0), 1 - width);
  return { from, to: from + width };
}

/**
 * "Nice" tick positions (1, 2 or 5 × 10ⁿ apart) covering [from, to], at most about `maxTicks`
 * of them. Values are in the same unit as the input (µs).
 */
export function niceTicks(from: number, to: number, maxTicks: number): number[] {
  const span = to - from;
  if (!(span > 0) || maxTicks < 1) return [from];
  const rough = span / maxTicks;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to + step * 1e-9; t += step) {
    ticks.push(Math.round(t / step) * step);
  }
  return ticks;
}

/** Number of descendants of every span (model.spans is depth-first, so one backward pass). */
export function descendantCounts(model: TraceModel): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = model.spans.length - 1; i >= 0; i--) {
    const node = model.spans[i];
    let total = 0;
    for (const child of node.children) total += 1 + (counts.get(child.id) ?? 0);
    counts.set(node.id, total);
  }
  return counts;
}

/** The critical-path segments grouped by span. */
export function segmentsBySpan(segments: CriticalSegment[]): Map<string, CriticalSegment[]> {
  const out = new Map<string, CriticalSegment[]>();
  for (const segment of segments) {
    const list = out.get(segment.spanId);
    if (list) list.push(segment);
    else out.set(segment.spanId, [segment]);
  }
  return out;
}

/** IDs of all spans with children: what "collapse all" folds. */
export function parentIds(model: TraceModel): Set<string> {
  return new Set(model.spans.filter((n) => n.children.length > 0).map((n) => n.id));
}
