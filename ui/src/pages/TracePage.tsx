// /trace/{id}: loads one trace (uploaded or from the API) and shows its header and the view
// chosen in ?view= (timeline by default); ?uiFind= selects spans as in Jaeger UI.
import { useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { loadTrace } from "../localTraces";
import { buildModel, type TraceModel } from "../model";
import type { Trace } from "../types";
import { isViewId, TraceHeader, type ViewId } from "../trace/TraceHeader";
import { Flamegraph } from "../trace/Flamegraph";
import { SpansTable } from "../trace/SpansTable";
import { Timeline } from "../trace/Timeline";
import { TraceGraph } from "../trace/TraceGraph";
import { TraceJson } from "../trace/TraceJson";
import { TraceLogs } from "../trace/TraceLogs";
import { TraceStats } from "../trace/TraceStats";
import "../trace/trace.css";

type Loaded = { id: string; trace: Trace } | { id: string; error: string };

function TraceView({ model }: { model: TraceModel }) {
  const [params, setParams] = useSearchParams();
  const requested = params.get("view");
  const view: ViewId = isViewId(requested) ? requested : "timeline";
  const setView = (next: ViewId) =>
    setParams((prev) => {
      const p = new URLSearchParams(prev);
      if (next === "timeline") p.delete("view");
      else p.set("view", next);
      return p;
    });
  /** Other views send the user to a span in the timeline. */
  const showSpan = (spanId: string) => setParams(new URLSearchParams({ uiFind: spanId }));
  return (
    <div className="trace-page" data-testid="trace-page">
      <TraceHeader model={model} view={view} onView={setView} />
      {view === "timeline" && <Timeline key={model.traceID} model={model} />}
      {view === "graph" && <TraceGraph model={model} />}
      {view === "flamegraph" && <Flamegraph model={model} onShowSpan={showSpan} />}
      {view === "table" && <SpansTable model={model} onShowSpan={showSpan} />}
      {view === "stats" && <TraceStats model={model} />}
      {view === "logs" && <TraceLogs model={model} onShowSpan={showSpan} />}
      {view === "json" && <TraceJson trace={model.trace} />}
    </div>
  );
}

export function TracePage({ traceId }: { traceId: string }) {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    loadTrace(traceId, controller.signal).then(
      (trace) => setLoaded({ id: traceId, trace }),
      (e: Error) => {
        if (!controller.signal.aborted) setLoaded({ id: traceId, error: e.message });
      },
    );
    return () => controller.abort();
  }, [traceId]);
  const current = loaded?.id === traceId ? loaded : null;
  const trace = current && "trace" in current ? current.trace : null;
  const model = useMemo(() => (trace ? buildModel(trace) : null), [trace]);

  useEffect(() => {
    if (model) document.title = `${model.name} · spoor`;
  }, [model]);

  if (current && "error" in current) {
    return (
      <div className="error-box" data-testid="trace-error" role="alert">
        Could not load trace <span className="mono">{traceId}</span>: {current.error}
      </div>
    );
  }
  if (!model) return <p className="empty" data-testid="trace-loading">Loading…</p>;
  return <TraceView model={model} />;
}
