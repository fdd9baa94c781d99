// The shell: top bar (navigation, trace-ID box, time zone, theme) and the routes, which keep
// Jaeger UI's URLs: /search, /trace/{id}, /trace/{a}...{b} and /dependencies.
import { useState, type FormEvent } from "react";
import { BrowserRouter, Navigate, NavLink, Route, Routes, useNavigate, useParams } from "react-router-dom";
import { SettingsProvider, useSettings } from "./settings";
import { SearchPage } from "./pages/SearchPage";
import { TracePage } from "./pages/TracePage";
import { ComparePage } from "./pages/ComparePage";
import { DependenciesPage } from "./pages/DependenciesPage";

/** The router's basename: the path of <base href>, which spoor sets to its base_path. */
export function basename(): string {
  return new URL(document.baseURI).pathname.replace(/\/+$/, "");
}

function TraceIdBox() {
  const navigate = useNavigate();
  const [value, setValue] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const ids = value
      .trim()
      .toLowerCase()
      .split(/[\s,]+|\.\.\./)
      .filter(Boolean);
    if (ids.length === 0) return;
    navigate(ids.length >= 2 ? `/trace/${ids[0]}...${ids[1]}` : `/trace/${ids[0]}`);
    setValue("");
  };
  return (
    <form className="trace-id-box" onSubmit={submit} role="search">
      <input
        data-testid="trace-id-input"
        aria-label="Look up a trace by ID"
        placeholder="Trace ID…"
        value={value}
        onChange={(e) => setValue(e.target.value)}
        spellCheck={false}
      />
    </form>
  );
}

function TopBar() {
  const { theme, setTheme, timeZone, setTimeZone } = useSettings();
  return (
    <header className="topbar">
      <NavLink to="/search" className="brand">
        spoor
      </NavLink>
      <nav>
        <NavLink to="/search">Search</NavLink>
        <NavLink to="/compare">Compare</NavLink>
        <NavLink to="/dependencies">Dependencies</NavLink>
      </nav>
      <div className="topbar-right">
        <TraceIdBox />
        <select
          data-testid="timezone-select"
          aria-label="Time zone"
          value={timeZone}
          onChange={(e) => setTimeZone(e.target.value as "local" | "utc")}
        >
          <option value="local">Local time</option>
          <option value="utc">UTC</option>
        </select>
        <button
          data-testid="theme-toggle"
          className="icon-button"
          aria-label={theme === "dark" ? "Use the light theme" : "Use the dark theme"}
          title="Toggle dark mode"
          onClick={() => setTheme(theme === "dark" ? "light" : "dark")}
        >
          {theme === "dark" ? "☀" : "☾"}
        </button>
      </div>
    </header>
  );
}

/** /trace/{id} shows one trace; /trace/{a}...{b} compares two, as in Jaeger UI. */
function TraceRoute() {
  const { id = "" } = useParams();
  const pair = id.split("...");
  if (pair.length === 2) return <ComparePage a={pair[0]} b={pair[1]} />;
  return <TracePage traceId={id} />;
}

export function App() {
  return (
    <SettingsProvider>
      <BrowserRouter basename={basename()}>
        <TopBar />
        <main className="page">
          <Routes>
            <Route path="/" element={<Navigate to="/search" replace />} />
            <Route path="/search" element={<SearchPage />} />
            <Route path="/trace/:id" element={<TraceRoute />} />
            <Route path="/compare" element={<ComparePage />} />
            <Route path="/dependencies" element={<DependenciesPage />} />
            <Route path="*" element={<p className="empty">No such page.</p>} />
          </Routes>
        </main>
      </BrowserRouter>
    </SettingsProvider>
  );
}
