// Small pieces of the compare view shared by the graph and the table: the latency delta and
// the per-side figures of a diff node.
import { formatDuration } from "../format";
import { average, latencyChange, latencyRatio, type DiffNode, type DiffSide } from "./diff";

/** "×3.0" or "−40%"-style ratio text for B against A. */
export function formatRatio(ratio: number): string {
  if (ratio >= 2) return `×${ratio.toFixed(ratio >= 10 ? 0 : 1)}`;
  const percent = Math.round((ratio - 1) * 100);
  return `${percent > 0 ? "+" : percent < 0 ? "−" : "±"}${Math.abs(percent)}%`;
}

/** The change of the average duration from A to B, coloured by slower or faster. */
export function LatencyDelta({ node }: { node: DiffNode }) {
  const change = latencyChange(node);
  const ratio = latencyRatio(node);
  if (change === null) return <span className="cmp-delta muted">{node.a.count === 0 ? "only in B" : "only in A"}</span>;
  const delta = average(node.b) - average(node.a);
  if (delta === 0) return <span className="cmp-delta similar" data-latency={change}>no change</span>;
  return (
    <span className={`cmp-delta ${change}`} data-latency={change} title={`average ${formatDuration(average(node.a))} → ${formatDuration(average(node.b))}`}>
      {delta >= 0 ? "+" : "−"}
      {formatDuration(Math.abs(delta))}
      {ratio !== null && ` (${formatRatio(ratio)})`}
    </span>
  );
}

/** "2× avg 300ms", or "–" for a side without spans here. */
export function SideFigures({ side, label }: { side: DiffSide; label: string }) {
  if (side.count === 0) return <span className="cmp-side muted">{label} –</span>;
  return (
    <span className="cmp-side" title={`${label}: ${side.count} span(s), total ${formatDuration(side.total)}`}>
      <span className="cmp-side-label">{label}</span> {side.count}× {formatDuration(average(side))}
      {side.errors > 0 && <span className="cmp-errors"> {side.errors} err</span>}
    </span>
  );
}
