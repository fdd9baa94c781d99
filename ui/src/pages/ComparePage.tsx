// /trace/{a}...{b} compares two traces: their span trees folded by (service, operation) path,
// showing what was added or removed, where call counts changed, and how the average latency
// of each path moved. /compare asks for the two trace IDs.
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { DiffGraph } from "../compare/DiffGraph";
import { DiffTable } from "../compare/DiffTable";
import { diffTraces, differingNodes, latencyChange } from "../compare/diff";
import { formatDuration, formatTimestamp } from "../format";
import { loadTrace } from "../localTraces";
import { buildModel, type TraceModel } from "../model";
import { useSettings } from "../settings";
import "../compare/compare.css";
import "../deps/deps.css";

/** Beyond this many nodes the table is the default view: a tree that wide is hard to read. */
const GRAPH_NODE_LIMIT = 150;
/** Beyond this many the graph is not offered: the layout would take seconds. */
const GRAPH_NODE_MAX = 800;

type Side = { state: "loading" } | { state: "error"; message: string } | { state: "done"; model: TraceModel };

function useTraceModel(id: string): Side {
  const [side, setSide] = useState<Side>({ state: "loading" });
  useEffect(() => {
    const abort = new AbortController();
    setSide({ state: "loading" });
    loadTrace(id, abort.signal)
      .then((trace) => setSide({ state: "done", model: buildModel(trace) }))
      .catch((e: Error) => {
        if (!abort.signal.aborted) setSide({ state: "error", message: e.message });
      });
    return () => abort.abort();
  }, [id]);
  return side;
}

function ChooseTraces({ a = "", b = "" }: { a?: string; b?: string }) {
  const navigate = useNavigate();
  const [first, setFirst] = useState(a);
  const [second, setSecond] = useState(b);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const ids = [first, second].map((s) => s.trim().toLowerCase());
    if (ids.every(Boolean)) navigate(`/trace/${ids[0]}...${ids[1]}`);
  };
  return (
    <form className="cmp-choose" onSubmit={submit}>
      <h1>Compare two traces</h1>
      <p className="muted">
        Structure and latency, side by side. Tick two traces in the search results, or paste their IDs.
      </p>
      <label>
        A (baseline)
        <input data-testid="compare-a" className="mono" value={first} onChange={(e) => setFirst(e.target.value)} spellCheck={false} required />
      </label>
      <label>
        B
        <input data-testid="compare-b" className="mono" value={second} onChange={(e) => setSecond(e.target.value)} spellCheck={false} required />
      </label>
      <button type="submit" className="primary" data-testid="compare-submit">
        Compare
      </button>
    </form>
  );
}

function TraceHeader({ label, model, other }: { label: string; model: TraceModel; other?: TraceModel }) {
  const { timeZone } = useSettings();
  const delta = other ? model.duration - other.duration : 0;
  return (
    <div className="cmp-trace" data-testid={`compare-header-${label.toLowerCase()}`}>
      <span className="cmp-trace-label">{label}</span>
      <Link to={`/trace/${model.traceID}`} className="cmp-trace-name">
        {model.name}
      </Link>
      <span className="mono muted">{model.traceID.slice(0, 7)}</span>
      <span>{formatDuration(model.duration)}</span>
      {other && other.duration > 0 && (
        <span className={`cmp-delta ${delta > 0 ? "slower" : delta < 0 ? "faster" : "similar"}`}>
          {delta >= 0 ? "+" : "−"}
          {formatDuration(Math.abs(delta))} vs A
        </span>
      )}
      <span>{model.spans.length} spans</span>
      {model.errors > 0 && <span className="cmp-errors">{model.errors} errors</span>}
      <span className="muted">{formatTimestamp(model.start, timeZone)}</span>
    </div>
  );
}

function Legend() {
  return (
    <div className="cmp-legend" aria-label="Legend">
      <span className="cmp-key added">only in B</span>
      <span className="cmp-key removed">only in A</span>
      <span className="cmp-key changed">span count differs</span>
      <span className="cmp-key same">same count</span>
      <span className="cmp-delta slower">slower in B</span>
      <span className="cmp-delta faster">faster in B</span>
      <span className="muted">(average duration per path; ±10% counts as the same)</span>
    </div>
  );
}

function Comparison({ a, b }: { a: TraceModel; b: TraceModel }) {
  const navigate = useNavigate();
  const diff = useMemo(() => diffTraces(a, b), [a, b]);
  const [onlyDifferences, setOnlyDifferences] = useState(false);
  const [view, setView] = useState<"graph" | "table">(diff.nodes.length > GRAPH_NODE_LIMIT ? "table" : "graph");
  const nodes = useMemo(() => {
    if (!onlyDifferences) return diff.nodes;
    const keep = differingNodes(diff);
    return diff.nodes.filter((n) => keep.has(n));
  }, [diff, onlyDifferences]);
  const latency = useMemo(() => {
    const counts = { slower: 0, faster: 0 };
    for (const n of diff.nodes) {
      const change = latencyChange(n);
      if (change === "slower" || change === "faster") counts[change] += 1;
    }
    return counts;
  }, [diff]);

  return (
    <div className="cmp-page" data-testid="compare-view">
      <div className="cmp-header">
        <TraceHeader label="A" model={a} />
        <TraceHeader label="B" model={b} other={a} />
      </div>
      <div className="cmp-toolbar">
        <span className="cmp-summary" data-testid="compare-summary">
          {diff.nodes.length} paths: <span className="cmp-key added">{diff.counts.added} added</span>
          <span className="cmp-key removed">{diff.counts.removed} removed</span>
          <span className="cmp-key changed">{diff.counts.changed} count changed</span>
          <span className="cmp-delta slower">{latency.slower} slower</span>
          <span className="cmp-delta faster">{latency.faster} faster</span>
        </span>
        <label>
          <input type="checkbox" checked={onlyDifferences} onChange={(e) => setOnlyDifferences(e.target.checked)} data-testid="compare-only-diff" />
          Only differences
        </label>
        <button type="button" onClick={() => navigate(`/trace/${b.traceID}...${a.traceID}`)} title="Make B the baseline">
          Swap A and B
        </button>
        <div className="deps-segmented" role="group" aria-label="View">
          <button
            type="button"
            aria-pressed={view === "graph"}
            onClick={() => setView("graph")}
            disabled={nodes.length > GRAPH_NODE_MAX}
            title={nodes.length > GRAPH_NODE_MAX ? `Too many paths (${nodes.length}) to draw; try "Only differences"` : undefined}
          >
            Graph
          </button>
          <button type="button" aria-pressed={view === "table"} onClick={() => setView("table")} data-testid="compare-table-toggle">
            Table
          </button>
        </div>
      </div>
      <Legend />
      {nodes.length === 0 ? (
        <p className="empty">No differences: the same paths, span counts and latencies (within 10%).</p>
      ) : view === "graph" && nodes.length <= GRAPH_NODE_MAX ? (
        <DiffGraph nodes={nodes} />
      ) : (
        <DiffTable nodes={nodes} />
      )}
    </div>
  );
}

export function ComparePage({ a, b }: { a?: string; b?: string }) {
  if (!a || !b) return <ChooseTraces a={a} b={b} />;
  return <LoadedComparison a={a} b={b} />;
}

function LoadedComparison({ a, b }: { a: string; b: string }) {
  const sideA = useTraceModel(a);
  const sideB = useTraceModel(b);
  if (sideA.state === "done" && sideB.state === "done") return <Comparison a={sideA.model} b={sideB.model} />;
  const failures = (
    [
      ["A", a, sideA],
      ["B", b, sideB],
    ] as const
  ).flatMap(([label, id, side]) => (side.state === "error" ? [`${label} (${id}): ${side.message}`] : []));
  if (failures.length > 0) {
    return (
      <div>
        <div className="error-box" data-testid="compare-error">
          Could not load {failures.length === 2 ? "either trace" : "a trace"}:
          <ul>
            {failures.map((f) => (
              <li key={f}>{f}</li>
            ))}
          </ul>
        </div>
        <ChooseTraces a={a} b={b} />
      </div>
    );
  }
  return <p className="empty">Loading both traces…</p>;
}
