// Shown instead of the graph when there are too many services to read at once: the services,
// busiest first, each a button that focuses the graph on it.
import { serviceColor } from "../serviceColor";
import type { ServiceTraffic } from "./graph";

export function ServiceOverview({
  traffic,
  matches,
  filtering,
  edges,
  onFocus,
  onShowAll,
}: {
  traffic: ServiceTraffic[];
  matches: ReadonlySet<string>;
  /** Whether the filter box has text: then only matches are listed. */
  filtering: boolean;
  edges: number;
  onFocus: (service: string) => void;
  onShowAll: () => void;
}) {
  const listed = filtering ? traffic.filter((t) => matches.has(t.name)) : traffic;
  return (
    <div className="deps-overview" data-testid="dep-overview">
      <p>
        {traffic.length} services with {edges.toLocaleString()} call edges are too many to read in one graph. Pick a
        service to see its neighbourhood (the hops setting says how far), type in Find to narrow the list, or{" "}
        <button type="button" onClick={onShowAll} data-testid="dep-show-all">
          draw the whole graph anyway
        </button>
        .
      </p>
      <ul>
        {listed.map((t) => (
          <li key={t.name}>
            <button type="button" onClick={() => onFocus(t.name)} data-testid="dep-overview-service" title={`Focus on ${t.name}`}>
              <span className="deps-swatch" style={{ background: serviceColor(t.name) }} />
              <span className="deps-overview-name">{t.name}</span>
              <span className="muted">
                {t.in.toLocaleString()} in · {t.out.toLocaleString()} out
              </span>
            </button>
          </li>
        ))}
      </ul>
      {listed.length === 0 && <p className="muted">No service matches.</p>}
    </div>
  );
}
