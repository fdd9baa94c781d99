// Duration over start time for the results: one dot per trace, its area growing with the span
// count, red when the trace has errors. Hover shows a tooltip; click opens the trace.
import { useEffect, useState } from "react";
import { formatDuration, formatTimestamp } from "../format";
import { useSettings } from "../settings";
import type { TraceSummary } from "./results";

const HEIGHT = 180;
const PAD = { left: 64, right: 16, top: 12, bottom: 26 };

/** A callback ref and the element's content width, kept up to date. */
function useWidth<T extends HTMLElement>() {
  const [el, ref] = useState<T | null>(null);
  const [width, setWidth] = useState(600);
  useEffect(() => {
    if (!el) return;
    const observer = new ResizeObserver(([entry]) => setWidth(entry.contentRect.width));
    observer.observe(el);
    return () => observer.disconnect();
  }, [el]);
  return [ref, width] as const;
}

/** About `count` round values spanning [0, max]. */
function ticks(max: number, count: number): number[] {
  if (max <= 0) return [0];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) out.push(v);
  return out;
}

export function ScatterPlot({
  traces,
  hovered,
  onHover,
  onOpen,
}: {
  traces: TraceSummary[];
  hovered: string | null;
  onHover: (traceID: string | null) => void;
  onOpen: (traceID: string) => void;
}) {
  const { timeZone } = useSettings();
  const [ref, width] = useWidth<HTMLDivElement>();
  if (traces.length === 0) return null;

  const minT = Math.min(...traces.map((t) => t.start));
  const maxT = Math.max(...traces.map((t) => t.start));
  const maxD = Math.max(...traces.map((t) => t.duration), 1);
  const maxSpans = Math.max(...traces.map((t) => t.spans), 1);
  const spanT = maxT - minT || 1;
  const plotW = Math.max(width - PAD.left - PAD.right, 10);
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + (maxT === minT ? plotW / 2 : ((t - minT) / spanT) * plotW);
  const y = (d: number) => PAD.top + plotH - (d / maxD) * plotH;
  const r = (spans: number) => 3 + 7 * Math.sqrt(spans / maxSpans);
  const yTicks = ticks(maxD, 4);
  const xTicks = maxT === minT ? [minT] : [0, 0.25, 0.5, 0.75, 1].map((f) => minT + f * spanT);
  const time = (t: number) => formatTimestamp(t, timeZone).slice(11, spanT < 60_000_000 ? 23 : 19);
  const active = traces.find((t) => t.traceID === hovered);

  return (
    <div className="search-scatter" ref={ref}>
      <svg
        data-testid="search-scatter"
        width={width}
        height={HEIGHT}
        role="img"
        aria-label={`Duration over time of ${traces.length} traces`}
      >
        {yTicks.map((d) => (
          <g key={d} className="search-scatter-grid">
            <line x1={PAD.left} x2={PAD.left + plotW} y1={y(d)} y2={y(d)} />
            <text x={PAD.left - 6} y={y(d)} dy="0.35em" textAnchor="end">
              {formatDuration(d)}
            </text>
          </g>
        ))}
        {xTicks.map((t, i) => (
          <text
            key={i}
            className="search-scatter-axis"
            x={x(t)}
            y={HEIGHT - 6}
            textAnchor={xTicks.length === 1 ? "middle" : i === 0 ? "start" : i === xTicks.length - 1 ? "end" : "middle"}
          >
            {time(t)}
          </text>
        ))}
        {traces.map((t) => (
          <circle
            key={t.traceID}
            data-testid="scatter-dot"
            data-trace-id={t.traceID}
            className={`search-dot${t.errors > 0 ? " error" : ""}${t.traceID === hovered ? " hovered" : ""}`}
            cx={x(t.start)}
            cy={y(t.duration)}
            r={r(t.spans)}
            onPointerEnter={() => onHover(t.traceID)}
            onPointerLeave={() => onHover(null)}
            onClick={() => onOpen(t.traceID)}
          />
        ))}
      </svg>
      {active && (
        <div
          className="search-tooltip"
          data-testid="scatter-tooltip"
          style={{
            left: Math.min(x(active.start) + 12, width - 240),
            top: Math.max(y(active.duration) - 20, 0),
          }}
        >
          <strong>{active.name}</strong>
          <span>
            {formatDuration(active.duration)} · {active.spans} spans
            {active.errors > 0 && <span className="search-error-count"> · {active.errors} errors</span>}
          </span>
          <span className="muted">{formatTimestamp(active.start, timeZone)}</span>
        </div>
      )}
    </div>
  );
}
