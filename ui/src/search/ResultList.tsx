// The search results: per trace its name (a link to the trace), duration with a bar relative
// to the longest, span and error counts, spans per service, start time and a compare checkbox.
import { Link } from "react-router-dom";
import { formatDuration, formatRelative, formatTimestamp } from "../format";
import { serviceColor } from "../serviceColor";
import { useSettings } from "../settings";
import type { TraceSummary } from "./results";

function Result({
  trace,
  longest,
  source,
  selected,
  hovered,
  onToggle,
  onHover,
}: {
  trace: TraceSummary;
  longest: number;
  source: string | null;
  selected: boolean;
  hovered: boolean;
  onToggle: () => void;
  onHover: (traceID: string | null) => void;
}) {
  const { timeZone } = useSettings();
  const checkboxId = `compare-${trace.traceID}`;
  return (
    <li
      className={`search-result${hovered ? " hovered" : ""}${selected ? " selected" : ""}`}
      data-testid="search-result"
      data-trace-id={trace.traceID}
      onPointerEnter={() => onHover(trace.traceID)}
      onPointerLeave={() => onHover(null)}
    >
      <div className="search-result-head">
        <input
          type="checkbox"
          id={checkboxId}
          data-testid="compare-checkbox"
          checked={selected}
          onChange={onToggle}
          aria-label={`Select ${trace.name} (${trace.traceID.slice(0, 7)}) for comparison`}
        />
        <Link to={`/trace/${trace.traceID}`} className="search-result-name" data-testid="search-result-link">
          {trace.name}
        </Link>
        <span className="mono muted">{trace.traceID.slice(0, 7)}</span>
        {source && (
          <span className="search-badge" data-testid="upload-badge">
            from file: {source}
          </span>
        )}
        <span className="search-result-duration">{formatDuration(trace.duration)}</span>
      </div>
      <div className="search-bar" aria-hidden>
        <div style={{ width: `${longest > 0 ? Math.max((trace.duration / longest) * 100, 0.5) : 0}%` }} />
      </div>
      <div className="search-result-meta">
        <span>{trace.spans} spans</span>
        {trace.errors > 0 && (
          <span className="search-error-count" data-testid="search-result-errors">
            {trace.errors} error{trace.errors === 1 ? "" : "s"}
          </span>
        )}
        <span className="search-chips">
          {trace.services.map((s) => (
            <span key={s.name} className="search-chip" title={`${s.name}: ${s.spans} spans${s.errors ? `, ${s.errors} errors` : ""}`}>
              <span className="search-chip-swatch" style={{ background: serviceColor(s.name) }} />
              {s.name} <strong>{s.spans}</strong>
            </span>
          ))}
        </span>
        <span className="search-result-time">
          {formatTimestamp(trace.start, timeZone)} <span className="muted">({formatRelative(trace.start)})</span>
        </span>
      </div>
    </li>
  );
}

export function ResultList({
  traces,
  source,
  selected,
  hovered,
  onToggle,
  onHover,
}: {
  traces: TraceSummary[];
  /** The file the traces came from, if any. */
  source: string | null;
  selected: ReadonlySet<string>;
  hovered: string | null;
  onToggle: (traceID: string) => void;
  onHover: (traceID: string | null) => void;
}) {
  const longest = traces.reduce((m, t) => Math.max(m, t.duration), 0);
  return (
    <ol className="search-results">
      {traces.map((t) => (
        <Result
          key={t.traceID}
          trace={t}
          longest={longest}
          source={source}
          selected={selected.has(t.traceID)}
          hovered={hovered === t.traceID}
          onToggle={() => onToggle(t.traceID)}
          onHover={onHover}
        />
      ))}
    </ol>
  );
}
