// Per-operation statistics grouped by service: counts, errors, durations and self time, with
// "% of trace" as the share of the trace's duration spent in the operations' own code (the
// self time), as in Jaeger UI's trace statistics.
import { Fragment, useMemo, useState } from "react";
import { formatDuration } from "../format";
import { operationStats, type OperationStats, type TraceModel } from "../model";
import { colorOf } from "./colors";
import { ariaSort, nextSort, SortButton, type SortState } from "./SortHeader";

/** Operations listed per service before a "show all": traces with generated names have thousands. */
const OPERATIONS_SHOWN = 50;

type Column = "name" | "count" | "errors" | "total" | "avg" | "min" | "max" | "selfTotal" | "percent";

const COLUMNS: { key: Column; label: string }[] = [
  { key: "name", label: "Operation" },
  { key: "count", label: "Count" },
  { key: "errors", label: "Errors" },
  { key: "total", label: "Total" },
  { key: "avg", label: "Avg" },
  { key: "min", label: "Min" },
  { key: "max", label: "Max" },
  { key: "selfTotal", label: "Self total" },
  { key: "percent", label: "% of trace" },
];

interface Group {
  service: string;
  summary: OperationStats;
  operations: OperationStats[];
}

/** Sums the operations of one service into a row of the same shape. */
function summarize(service: string, ops: OperationStats[]): OperationStats {
  return ops.reduce<OperationStats>(
    (acc, o) => ({
      ...acc,
      count: acc.count + o.count,
      errors: acc.errors + o.errors,
      total: acc.total + o.total,
      min: Math.min(acc.min, o.min),
      max: Math.max(acc.max, o.max),
      selfTotal: acc.selfTotal + o.selfTotal,
    }),
    { service, operation: service, count: 0, errors: 0, total: 0, min: Infinity, max: 0, selfTotal: 0 },
  );
}

export function TraceStats({ model }: { model: TraceModel }) {
  const [sort, setSort] = useState<SortState<Column>>({ key: "total", desc: true });
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(() => new Set());
  const duration = Math.max(model.duration, 1);
  const groups = useMemo(() => {
    const value = (s: OperationStats): number | string => {
      switch (sort.key) {
        case "name":
          return s.operation;
        case "avg":
          return s.total / s.count;
        case "percent":
          return s.selfTotal;
        default:
          return s[sort.key];
      }
    };
    const cmp = (a: OperationStats, b: OperationStats) => {
      const x = value(a);
      const y = value(b);
      const order = typeof x === "string" ? x.localeCompare(String(y)) : x - (y as number);
      return sort.desc ? -order : order;
    };
    const byService = new Map<string, OperationStats[]>();
    for (const s of operationStats(model)) {
      const list = byService.get(s.service) ?? [];
      list.push(s);
      byService.set(s.service, list);
    }
    const out: Group[] = [...byService].map(([service, ops]) => ({
      service,
      summary: summarize(service, ops),
      operations: ops.sort(cmp),
    }));
    return out.sort((a, b) => cmp(a.summary, b.summary));
  }, [model, sort]);

  const onSort = (key: Column) => setSort((s) => nextSort(s, key, key === "name"));
  const cells = (s: OperationStats) => (
    <>
      <td className="num">{s.count.toLocaleString()}</td>
      <td className={`num ${s.errors > 0 ? "error-text" : ""}`}>{s.errors.toLocaleString()}</td>
      <td className="num">{formatDuration(s.total)}</td>
      <td className="num">{formatDuration(s.total / s.count)}</td>
      <td className="num">{formatDuration(s.min)}</td>
      <td className="num">{formatDuration(s.max)}</td>
      <td className="num">{formatDuration(s.selfTotal)}</td>
      <td className="num">{((s.selfTotal / duration) * 100).toFixed(1)}%</td>
    </>
  );

  return (
    <div className="view-body">
      <table className="stats-table" data-testid="trace-stats">
        <thead>
          <tr>
            {COLUMNS.map((c) => (
              <th key={c.key} className={c.key === "name" ? undefined : "num"} aria-sort={ariaSort(sort, c.key)}>
                <SortButton label={c.label} column={c.key} sort={sort} onSort={onSort} />
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {groups.map((g) => (
            <Fragment key={g.service}>
              <tr className="stats-service" data-testid="stats-service">
                <th scope="rowgroup">
                  <span className="service-mark" style={{ background: colorOf(g.service) }} /> {g.service}
                </th>
                {cells(g.summary)}
              </tr>
              {(expanded.has(g.service) ? g.operations : g.operations.slice(0, OPERATIONS_SHOWN)).map((o) => (
                <tr key={o.operation} data-testid="stats-row">
                  <td className="stats-op">{o.operation}</td>
                  {cells(o)}
                </tr>
              ))}
              {!expanded.has(g.service) && g.operations.length > OPERATIONS_SHOWN && (
                <tr>
                  <td className="stats-op" colSpan={COLUMNS.length}>
                    <button className="link-button" onClick={() => setExpanded((prev) => new Set(prev).add(g.service))}>
                      Show all {g.operations.length.toLocaleString()} operations of {g.service}
                    </button>
                  </td>
                </tr>
              )}
            </Fragment>
          ))}
        </tbody>
      </table>
    </div>
  );
}
