// /dependencies: the service graph for a lookback window, with a filter box, a focus mode that
// keeps the services within N calls of one service, pan and zoom, and a sortable edge table.
// The lookback, focus, hops and view live in the URL so that a view can be shared.
import { useEffect, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api } from "../api";
import { DependencyGraph } from "../deps/DependencyGraph";
import { EdgeTable } from "../deps/EdgeTable";
import { linksWithin, matchServices, neighbourhood, servicesOf, serviceTraffic } from "../deps/graph";
import { ServiceOverview } from "../deps/ServiceOverview";
import type { DependencyLink } from "../types";
import "../deps/deps.css";

const LOOKBACKS = [
  { value: "1h", label: "Last hour", ms: 3_600_000 },
  { value: "6h", label: "Last 6 hours", ms: 6 * 3_600_000 },
  { value: "24h", label: "Last 24 hours", ms: 24 * 3_600_000 },
  { value: "2d", label: "Last 2 days", ms: 2 * 86_400_000 },
  { value: "7d", label: "Last 7 days", ms: 7 * 86_400_000 },
];
const HOPS = ["1", "2", "3", "all"];
/** Beyond these, the whole graph is only drawn on request; a list of services is shown first. */
const OVERVIEW_SERVICES = 80;
const OVERVIEW_EDGES = 400;

type Load = { state: "loading" } | { state: "error"; message: string } | { state: "done"; links: DependencyLink[] };

export function DependenciesPage() {
  const [params, setParams] = useSearchParams();
  const lookback = LOOKBACKS.find((l) => l.value === params.get("lookback")) ?? LOOKBACKS[2];
  const focus = params.get("focus");
  const hops = HOPS.includes(params.get("hops") ?? "") ? params.get("hops")! : "2";
  const view = params.get("view") === "table" ? "table" : "graph";
  const [filter, setFilter] = useState("");
  const [onlyMatches, setOnlyMatches] = useState(false);
  const [drawEverything, setDrawEverything] = useState(false);
  const [load, setLoad] = useState<Load>({ state: "loading" });
  const [reloads, setReloads] = useState(0);

  const update = (changes: Record<string, string | null>) =>
    setParams(
      (p) => {
        const next = new URLSearchParams(p);
        for (const [k, v] of Object.entries(changes)) {
          if (v === null) next.delete(k);
          else next.set(k, v);
        }
        return next;
      },
      { replace: true },
    );

  useEffect(() => {
    const abort = new AbortController();
    setLoad({ state: "loading" });
    api
      .dependencies(Date.now(), lookback.ms, abort.signal)
      .then((links) => setLoad({ state: "done", links }))
      .catch((e: Error) => {
        if (!abort.signal.aborted) setLoad({ state: "error", message: e.message });
      });
    return () => abort.abort();
  }, [lookback.ms, reloads]);

  const links = useMemo(() => (load.state === "done" ? load.links : []), [load]);
  const allServices = useMemo(() => servicesOf(links), [links]);
  const matches = useMemo(() => matchServices(allServices, filter), [allServices, filter]);

  // What the graph and the table show: the focus's neighbourhood, else (optionally) the filter's
  // matches with their direct callers and callees, else everything.
  const shown = useMemo(() => {
    if (focus && allServices.includes(focus)) {
      return neighbourhood(links, focus, hops === "all" ? Infinity : Number(hops));
    }
    if (onlyMatches && matches.size > 0) {
      const keep = new Set(matches);
      for (const l of links) if (matches.has(l.parent) || matches.has(l.child)) keep.add(l.parent).add(l.child);
      return keep;
    }
    return null;
  }, [focus, hops, links, allServices, onlyMatches, matches]);
  const services = useMemo(() => (shown ? allServices.filter((s) => shown.has(s)) : allServices), [shown, allServices]);
  const shownLinks = useMemo(() => (shown ? linksWithin(links, shown) : links), [shown, links]);

  const toggleFocus = (service: string) => update({ focus: focus === service ? null : service });
  const overview =
    view === "graph" &&
    !shown &&
    !drawEverything &&
    (allServices.length > OVERVIEW_SERVICES || links.length > OVERVIEW_EDGES);
  const traffic = useMemo(() => (overview ? serviceTraffic(links) : []), [overview, links]);

  return (
    <div className="deps-page">
      <div className="deps-toolbar" role="toolbar" aria-label="Dependency graph controls">
        <label>
          Time range{" "}
          <select data-testid="dep-lookback" value={lookback.value} onChange={(e) => update({ lookback: e.target.value })}>
            {LOOKBACKS.map((l) => (
              <option key={l.value} value={l.value}>
                {l.label}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => setReloads((n) => n + 1)} title="Fetch the dependencies again">
          Refresh
        </button>
        <label>
          Find{" "}
          <input
            data-testid="dep-filter"
            type="search"
            placeholder="Service name…"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && matches.size === 1) toggleFocus([...matches][0]);
            }}
          />
        </label>
        <label className="inline">
          <input type="checkbox" checked={onlyMatches} onChange={(e) => setOnlyMatches(e.target.checked)} disabled={!!focus} />
          Only matches and their neighbours
        </label>
        {filter.trim() && <span className="muted">{matches.size} matching</span>}
        <label>
          Hops{" "}
          <select data-testid="dep-hops" value={hops} onChange={(e) => update({ hops: e.target.value })}>
            {HOPS.map((h) => (
              <option key={h} value={h}>
                {h === "all" ? "All" : h}
              </option>
            ))}
          </select>
        </label>
        {focus && (
          <span className="deps-focus" data-testid="dep-focus">
            Focused on <strong>{focus}</strong>
            <Link to={`/search?service=${encodeURIComponent(focus)}`}>traces</Link>
            <button type="button" onClick={() => update({ focus: null })}>
              Show all
            </button>
          </span>
        )}
        <div className="deps-segmented" role="group" aria-label="View">
          <button type="button" aria-pressed={view === "graph"} onClick={() => update({ view: null })}>
            Graph
          </button>
          <button type="button" aria-pressed={view === "table"} data-testid="dep-table-toggle" onClick={() => update({ view: "table" })}>
            Table
          </button>
        </div>
      </div>
      {load.state === "loading" && <p className="empty">Loading dependencies…</p>}
      {load.state === "error" && (
        <p className="error-box" data-testid="dep-error">
          Could not load the dependencies: {load.message}
        </p>
      )}
      {load.state === "done" && links.length === 0 && (
        <p className="empty" data-testid="dep-empty">
          No dependencies in the {lookback.label.toLowerCase()}. Services appear here once traces with calls between
          them arrive.
        </p>
      )}
      {load.state === "done" && links.length > 0 && (
        <>
          <p className="deps-summary muted">
            {services.length} of {allServices.length} services, {shownLinks.length} of {links.length} calls
            {focus ? ` within ${hops === "all" ? "any number of" : hops} hop${hops === "1" ? "" : "s"} of ${focus}` : ""}.
            {view === "graph" && !overview && " Click a service to focus on it; hover to see its calls."}
          </p>
          {overview ? (
            <ServiceOverview
              traffic={traffic}
              matches={matches}
              filtering={filter.trim() !== ""}
              edges={links.length}
              onFocus={toggleFocus}
              onShowAll={() => setDrawEverything(true)}
            />
          ) : view === "graph" ? (
            <DependencyGraph services={services} links={shownLinks} matches={matches} focus={focus} onFocus={toggleFocus} />
          ) : (
            <EdgeTable links={shownLinks} onFocus={toggleFocus} />
          )}
        </>
      )}
    </div>
  );
}
