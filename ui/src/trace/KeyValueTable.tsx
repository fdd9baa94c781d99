// A key/value table for tags, process tags and log fields. Long values are cut at
// MAX_VALUE_CHARS with a "show all" button, so a huge GenAI prompt doesn't stall the page.
import { useMemo, useState } from "react";
import type { KeyValue } from "../types";

const MAX_VALUE_CHARS = 300;

/** A value as text; JSON objects and arrays are pretty-printed once expanded. */
function prettyValue(value: string): string {
  const trimmed = value.trimStart();
  if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) return value;
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}

function ValueCell({ item }: { item: KeyValue }) {
  const [expanded, setExpanded] = useState(false);
  const text = String(item.value);
  if (text.length <= MAX_VALUE_CHARS) {
    return <span className={`kv-value kv-${item.type}`}>{text}</span>;
  }
  if (expanded) {
    return (
      <span className="kv-value">
        <pre className="kv-pre">{prettyValue(text)}</pre>
        <button className="link-button" onClick={() => setExpanded(false)}>
          show less
        </button>
      </span>
    );
  }
  return (
    <span className="kv-value">
      {text.slice(0, MAX_VALUE_CHARS)}…{" "}
      <button className="link-button" data-testid="show-all" onClick={() => setExpanded(true)}>
        show all ({text.length.toLocaleString()} chars)
      </button>
    </span>
  );
}

interface KeyValueTableProps {
  items: KeyValue[];
  /** Shows a filter box over keys and values. */
  filterable?: boolean;
  testId?: string;
}

export function KeyValueTable({ items, filterable = false, testId }: KeyValueTableProps) {
  const [filter, setFilter] = useState("");
  const shown = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    if (needle === "") return items;
    return items.filter((kv) => `${kv.key}=${String(kv.value)}`.toLowerCase().includes(needle));
  }, [items, filter]);
  return (
    <div className="kv" data-testid={testId}>
      {filterable && items.length > 0 && (
        <input
          className="kv-filter"
          data-testid="tag-filter"
          placeholder="Filter…"
          aria-label="Filter tags"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
      )}
      {shown.length === 0 ? (
        <p className="muted kv-empty">{items.length === 0 ? "None." : "No tag matches the filter."}</p>
      ) : (
        <table className="kv-table">
          <tbody>
            {shown.map((kv, i) => (
              <tr key={`${kv.key}:${i}`} data-testid="tag-row">
                <th scope="row">{kv.key}</th>
                <td>
                  <ValueCell item={kv} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
