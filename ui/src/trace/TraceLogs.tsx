// All logs and span events of the trace in one chronological, filterable list (Jaeger UI only
// shows them span by span). Virtualised with measured rows, since entries vary in height.
import { useDeferredValue, useMemo, useRef, useState } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { formatDuration, formatTimestamp } from "../format";
import type { TraceModel } from "../model";
import { useSettings } from "../settings";
import { colorOf } from "./colors";
import { logMatches, logTitle, traceLogs } from "./logs";
import { FilterBox } from "./FilterBox";

/** Field values longer than this are cut in the list; the span detail shows them whole. */
const MAX_FIELD_CHARS = 200;

interface TraceLogsProps {
  model: TraceModel;
  onShowSpan: (spanId: string) => void;
}

export function TraceLogs({ model, onShowSpan }: TraceLogsProps) {
  const { timeZone } = useSettings();
  const [filter, setFilter] = useState("");
  const deferredFilter = useDeferredValue(filter);
  const [errorsOnly, setErrorsOnly] = useState(false);
  const all = useMemo(() => traceLogs(model), [model]);
  const entries = useMemo(
    () => all.filter((e) => (!errorsOnly || e.node.error) && logMatches(e, deferredFilter)),
    [all, deferredFilter, errorsOnly],
  );
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: entries.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 48,
    getItemKey: (i) => entries[i].key,
    overscan: 10,
  });

  return (
    <div className="trace-logs" data-testid="trace-logs">
      <div className="view-toolbar">
        <FilterBox
          testId="logs-filter"
          label="Filter logs"
          placeholder="Filter by field, service or operation…"
          value={filter}
          onChange={setFilter}
        />
        <label className="check">
          <input type="checkbox" checked={errorsOnly} onChange={(e) => setErrorsOnly(e.target.checked)} />
          Only from spans with errors
        </label>
        <span className="muted" data-testid="logs-count">
          {entries.length.toLocaleString()} of {all.length.toLocaleString()} logs
        </span>
      </div>
      {all.length === 0 ? (
        <p className="empty">This trace has no logs or events.</p>
      ) : (
        <div className="logs-scroll" ref={scrollRef}>
          <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
            {virtualizer.getVirtualItems().map((item) => {
              const { node, log } = entries[item.index];
              const title = logTitle(log);
              return (
                <div
                  key={item.key}
                  data-index={item.index}
                  ref={virtualizer.measureElement}
                  className={`log-row ${node.error ? "has-error" : ""}`}
                  data-testid="log-entry"
                  style={{ transform: `translateY(${item.start}px)` }}
                >
                  <div className="log-time">
                    <span className="mono">+{formatDuration(log.timestamp - model.start)}</span>
                    <span className="muted">{formatTimestamp(log.timestamp, timeZone)}</span>
                  </div>
                  <div className="log-body">
                    <div>
                      <span className="service-mark" style={{ background: colorOf(node.service) }} />{" "}
                      <button className="link-button" onClick={() => onShowSpan(node.id)} title="Show the span in the timeline">
                        {node.service}: {node.span.operationName}
                      </button>
                      {node.error && <span className="error-icon">!</span>} {title && <strong>{title}</strong>}
                    </div>
                    <div className="log-fields">
                      {log.fields.map((f, i) => {
                        const value = String(f.value);
                        return (
                          <span key={i} className="log-field">
                            <span className="muted">{f.key}=</span>
                            {value.length > MAX_FIELD_CHARS ? `${value.slice(0, MAX_FIELD_CHARS)}…` : value}
                          </span>
                        );
                      })}
                    </div>
                  </div>
                </div>
              );
            })}
          </div>
        </div>
      )}
    </div>
  );
}
