// The trace's summary line (name, ID, start, duration, counts), the service legend, the view
// switcher and the JSON download.
import { formatDuration, formatTimestamp } from "../format";
import type { TraceModel } from "../model";
import { useSettings } from "../settings";
import { colorOf } from "./colors";

export const VIEWS = [
  { id: "timeline", label: "Timeline" },
  { id: "graph", label: "Graph" },
  { id: "flamegraph", label: "Flamegraph" },
  { id: "table", label: "Spans" },
  { id: "stats", label: "Statistics" },
  { id: "logs", label: "Logs" },
  { id: "json", label: "JSON" },
] as const;

export type ViewId = (typeof VIEWS)[number]["id"];

export function isViewId(value: string | null): value is ViewId {
  return VIEWS.some((v) => v.id === value);
}

/** Saves the trace as Jaeger UI does: `{data: [trace]}` in trace-<id>.json. */
function downloadJson(model: TraceModel) {
  const blob = new Blob([JSON.stringify({ data: [model.trace] }, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = `trace-${model.traceID}.json`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

interface TraceHeaderProps {
  model: TraceModel;
  view: ViewId;
  onView: (view: ViewId) => void;
}

export function TraceHeader({ model, view, onView }: TraceHeaderProps) {
  const { timeZone } = useSettings();
  const facts: [string, string, string][] = [
    ["Start", formatTimestamp(model.start, timeZone), "trace-start"],
    ["Duration", formatDuration(model.duration), "trace-duration"],
    ["Services", String(model.services.length), "trace-services"],
    ["Depth", String(model.maxDepth + 1), "trace-depth"],
    ["Spans", model.spans.length.toLocaleString(), "trace-spans"],
    ["Errors", model.errors.toLocaleString(), "trace-errors"],
  ];
  return (
    <header className="trace-header">
      <div className="trace-title">
        <h2 data-testid="trace-name">{model.name}</h2>
        <span className="mono muted" data-testid="trace-id">
          {model.traceID}
        </span>
      </div>
      <dl className="trace-facts">
        {facts.map(([label, value, testId]) => (
          <div key={label} className={label === "Errors" && model.errors > 0 ? "has-errors" : undefined}>
            <dt>{label}</dt>
            <dd data-testid={testId}>{value}</dd>
          </div>
        ))}
      </dl>
      <ul className="service-legend" aria-label="Services">
        {model.services.map((s) => (
          <li key={s.name} title={`${s.spans} spans, ${s.errors} errors`}>
            <span className="service-mark" style={{ background: colorOf(s.name) }} />
            {s.name} <span className="muted">{s.spans}</span>
            {s.errors > 0 && <span className="error-icon">!</span>}
          </li>
        ))}
      </ul>
      <div className="trace-actions">
        <nav className="view-switcher" aria-label="Trace views">
          {VIEWS.map((v) => (
            <button
              key={v.id}
              data-testid={`view-${v.id}`}
              className={v.id === view ? "active" : undefined}
              aria-pressed={v.id === view}
              onClick={() => onView(v.id)}
            >
              {v.label}
            </button>
          ))}
        </nav>
        <button data-testid="download-json" onClick={() => downloadJson(model)}>
          Download JSON
        </button>
      </div>
    </header>
  );
}
