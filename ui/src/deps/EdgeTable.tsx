// The dependency edges as a sortable table: caller, callee, calls.
import { useState } from "react";
import { serviceColor } from "../serviceColor";
import type { DependencyLink } from "../types";
import { sortLinks, type LinkSortKey } from "./graph";

const COLUMNS: { key: LinkSortKey; label: string }[] = [
  { key: "parent", label: "Caller" },
  { key: "child", label: "Callee" },
  { key: "callCount", label: "Calls" },
];

export function EdgeTable({ links, onFocus }: { links: DependencyLink[]; onFocus: (service: string) => void }) {
  const [sort, setSort] = useState<{ key: LinkSortKey; descending: boolean }>({ key: "callCount", descending: true });
  const rows = sortLinks(links, sort.key, sort.descending);
  const service = (name: string) => (
    <button type="button" className="deps-service-button" onClick={() => onFocus(name)} title={`Focus on ${name}`}>
      <span className="deps-swatch" style={{ background: serviceColor(name) }} />
      {name}
    </button>
  );
  return (
    <table className="dep-table" data-testid="dep-table">
      <thead>
        <tr>
          {COLUMNS.map((c) => (
            <th key={c.key} aria-sort={sort.key === c.key ? (sort.descending ? "descending" : "ascending") : "none"}>
              <button
                type="button"
                onClick={() =>
                  setSort((s) => ({ key: c.key, descending: s.key === c.key ? !s.descending : c.key === "callCount" }))
                }
              >
                {c.label}
                {sort.key === c.key ? (sort.descending ? " ▼" : " ▲") : ""}
              </button>
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((l) => (
          <tr key={`${l.parent}\u0000${l.child}`} data-testid="dep-row">
            <td>{service(l.parent)}</td>
            <td>{service(l.child)}</td>
            <td className="num">{l.callCount.toLocaleString()}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
