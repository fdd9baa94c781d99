// /search: the form on the left (mirrored in the URL as Jaeger UI does, so links run their
// search), and the results on the right: a duration scatter plot, sorting, the trace list and
// picking two traces to compare. Traces can also come from a JSON file, chosen or dropped.
import { useEffect, useMemo, useState, type DragEvent } from "react";
import { useLocation, useNavigate } from "react-router-dom";
import { api } from "../api";
import { ResultList } from "../search/ResultList";
import { ScatterPlot } from "../search/ScatterPlot";
import { SearchForm } from "../search/SearchForm";
import { apiParamsFromUrl, formFromUrl } from "../search/query";
import { isSortOrder, SORT_ORDERS, sortSummaries, summarize, type SortOrder } from "../search/results";
import { forgetUpload, loadTraceFiles, rememberedUpload, type Upload } from "../search/upload";
import { useSettings } from "../settings";
import type { Trace } from "../types";
import "../search/search.css";

type Results =
  | { state: "idle" }
  | { state: "loading" }
  | { state: "error"; message: string }
  | { state: "done"; traces: Trace[] };

function useServices() {
  const [services, setServices] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    api
      .services(abort.signal)
      .then((s) => setServices([...s].sort()))
      .catch((e: Error) => {
        if (!abort.signal.aborted) setError(`Could not load services: ${e.message}`);
      });
    return () => abort.abort();
  }, []);
  return { services, error };
}

export function SearchPage() {
  const location = useLocation();
  const navigate = useNavigate();
  const { timeZone } = useSettings();
  const { services, error: servicesError } = useServices();
  const [results, setResults] = useState<Results>({ state: "idle" });
  const [upload, setUpload] = useState<Upload | null>(rememberedUpload);
  const [uploadError, setUploadError] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const [sort, setSort] = useState<SortOrder>("recent");
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [hovered, setHovered] = useState<string | null>(null);
  const urlParams = useMemo(() => new URLSearchParams(location.search), [location.search]);
  const showingUpload = upload !== null;

  useEffect(() => {
    if (showingUpload) return;
    let params: URLSearchParams | null;
    try {
      params = apiParamsFromUrl(urlParams);
    } catch (e) {
      setResults({ state: "error", message: `This search's URL is malformed: ${(e as Error).message}` });
      return;
    }
    if (!params) {
      setResults({ state: "idle" });
      return;
    }
    const abort = new AbortController();
    setResults({ state: "loading" });
    api
      .search(params, abort.signal)
      .then((traces) => setResults({ state: "done", traces }))
      .catch((e: Error) => {
        if (!abort.signal.aborted) setResults({ state: "error", message: e.message });
      });
    return () => abort.abort();
  }, [urlParams, showingUpload]);

  const traces = showingUpload ? upload.traces : results.state === "done" ? results.traces : null;
  const summaries = useMemo(() => (traces ? traces.map(summarize) : []), [traces]);
  const sorted = useMemo(() => sortSummaries(summaries, sort), [summaries, sort]);

  const submit = (params: URLSearchParams) => {
    forgetUpload();
    setUpload(null);
    setUploadError(null);
    navigate(`/search?${params}`);
  };

  const openFiles = async (files: File[]) => {
    if (files.length === 0) return;
    setUploadError(null);
    try {
      setUpload(await loadTraceFiles(files));
    } catch (e) {
      setUploadError((e as Error).message);
    }
  };
  const clearUpload = () => {
    forgetUpload();
    setUpload(null);
  };

  const toggle = (id: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  const pair = [...selected];

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    void openFiles([...e.dataTransfer.files]);
  };
  const onDragOver = (e: DragEvent) => {
    if (![...e.dataTransfer.types].includes("Files")) return;
    e.preventDefault();
    setDragging(true);
  };

  return (
    <div
      className={`search-page${dragging ? " dragging" : ""}`}
      onDragOver={onDragOver}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={onDrop}
    >
      <aside className="search-sidebar">
        <h2>Search</h2>
        <SearchForm
          key={`${location.search}|${timeZone}`}
          initial={formFromUrl(urlParams, timeZone)}
          services={services}
          servicesError={servicesError}
          onSubmit={submit}
        />
        <div className="search-upload">
          <h2>Or open a file</h2>
          <label className="search-upload-label">
            <span>Load JSON file</span>
            <input
              type="file"
              accept=".json,application/json"
              multiple
              data-testid="upload-input"
              onChange={(e) => {
                void openFiles([...(e.target.files ?? [])]);
                e.target.value = "";
              }}
            />
          </label>
          <p className="search-hint">Jaeger JSON (as downloaded from a trace or /api/traces) or OTLP JSON. You can also drop files on this page.</p>
          {uploadError && (
            <p className="search-field-error" data-testid="upload-error" role="alert">
              {uploadError}
            </p>
          )}
        </div>
      </aside>
      <section className="search-main" aria-label="Results">
        {showingUpload && (
          <div className="search-upload-banner">
            Showing {upload.traces.length} trace{upload.traces.length === 1 ? "" : "s"} from file:{" "}
            <strong>{upload.name}</strong>
            <button type="button" onClick={clearUpload}>
              Back to search results
            </button>
          </div>
        )}
        {!showingUpload && results.state === "idle" && (
          <p className="empty">Choose a service and find traces, or open a JSON file.</p>
        )}
        {!showingUpload && results.state === "loading" && <p className="empty">Searching…</p>}
        {!showingUpload && results.state === "error" && (
          <p className="error-box" data-testid="search-error" role="alert">
            Search failed: {results.message}
          </p>
        )}
        {traces && traces.length === 0 && (
          <p className="empty" data-testid="search-empty">
            No traces found. Try a longer lookback, fewer tags or other durations.
          </p>
        )}
        {sorted.length > 0 && (
          <>
            <ScatterPlot traces={sorted} hovered={hovered} onHover={setHovered} onOpen={(id) => navigate(`/trace/${id}`)} />
            <div className="search-results-bar">
              <span data-testid="search-count" className="search-count">
                {sorted.length} trace{sorted.length === 1 ? "" : "s"}
              </span>
              <label>
                Sort{" "}
                <select
                  data-testid="search-sort"
                  value={sort}
                  onChange={(e) => isSortOrder(e.target.value) && setSort(e.target.value)}
                >
                  {Object.entries(SORT_ORDERS).map(([value, label]) => (
                    <option key={value} value={value}>
                      {label}
                    </option>
                  ))}
                </select>
              </label>
              <span className="search-compare">
                {selected.size > 0 && (
                  <button type="button" className="search-clear" onClick={() => setSelected(new Set())}>
                    Clear selection
                  </button>
                )}
                <button
                  type="button"
                  className="primary"
                  data-testid="compare-button"
                  disabled={selected.size !== 2}
                  title={selected.size === 2 ? "Compare the two selected traces" : "Tick exactly two traces to compare them"}
                  onClick={() => navigate(`/trace/${pair[0]}...${pair[1]}`)}
                >
                  Compare ({selected.size}/2)
                </button>
              </span>
            </div>
            <ResultList
              traces={sorted}
              source={showingUpload ? upload.name : null}
              selected={selected}
              hovered={hovered}
              onToggle={toggle}
              onHover={setHovered}
            />
          </>
        )}
      </section>
      {dragging && (
        <div className="search-drop" aria-hidden>
          Drop JSON trace files to open them
        </div>
      )}
    </div>
  );
}
