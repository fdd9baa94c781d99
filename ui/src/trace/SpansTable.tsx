// Every span in one flat, sortable and filterable table, virtualised for big traces.
import { useDeferredValue, useMemo, useRef, useState } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { formatDuration } from "../format";
import type { SpanNode, TraceModel } from "../model";
import { colorOf } from "./colors";
import { spanMatches } from "./search";
import { ariaSort, nextSort, SortButton, type SortState } from "./SortHeader";
import { FilterBox } from "./FilterBox";

type Column = "service" | "operation" | "start" | "duration" | "self" | "error";

const COLUMNS: { key: Column; label: string; textual: boolean }[] = [
  { key: "service", label: "Service", textual: true },
  { key: "operation", label: "Operation", textual: true },
  { key: "start", label: "Start", textual: false },
  { key: "duration", label: "Duration", textual: false },
  { key: "self", label: "Self time", textual: false },
  { key: "error", label: "Error", textual: false },
];

const ROW_HEIGHT = 26;

function compare(column: Column): (a: SpanNode, b: SpanNode) => number {
  switch (column) {
    case "service":
      return (a, b) => a.service.localeCompare(b.service);
    case "operation":
      return (a, b) => a.span.operationName.localeCompare(b.span.operationName);
    case "start":
      return (a, b) => a.offset - b.offset;
    case "duration":
      return (a, b) => a.span.duration - b.span.duration;
    case "self":
      return (a, b) => a.selfTime - b.selfTime;
    case "error":
      return (a, b) => Number(a.error) - Number(b.error);
  }
}

interface SpansTableProps {
  model: TraceModel;
  onShowSpan: (spanId: string) => void;
}

export function SpansTable({ model, onShowSpan }: SpansTableProps) {
  const [filter, setFilter] = useState("");
  const deferredFilter = useDeferredValue(filter);
  const [sort, setSort] = useState<SortState<Column>>({ key: "duration", desc: true });
  const rows = useMemo(() => {
    const needle = deferredFilter.trim().toLowerCase();
    const kept = needle ? model.spans.filter((n) => spanMatches(n, needle)) : [...model.spans];
    const by = compare(sort.key);
    // Ties fall back to the trace order, so equal values don't shuffle.
    return kept.sort((a, b) => (sort.desc ? by(b, a) : by(a, b)) || a.offset - b.offset);
  }, [model, deferredFilter, sort]);

  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 15,
  });
  const onSort = (key: Column) => setSort((s) => nextSort(s, key, COLUMNS.find((c) => c.key === key)!.textual));

  return (
    <div className="spans-table" data-testid="spans-table">
      <div className="view-toolbar">
        <FilterBox
          testId="spans-filter"
          label="Filter spans"
          placeholder="Filter spans by service, operation, ID, tag or log…"
          value={filter}
          onChange={setFilter}
        />
        <span className="muted">
          {rows.length.toLocaleString()} of {model.spans.length.toLocaleString()} spans · click a row to show it in the
          timeline
        </span>
      </div>
      <div className="table-scroll" ref={scrollRef} role="table" aria-rowcount={rows.length}>
        <div className="table-row table-head" role="row">
          {COLUMNS.map((c) => (
            <div key={c.key} role="columnheader" aria-sort={ariaSort(sort, c.key)} className={c.textual ? undefined : "num"}>
              <SortButton label={c.label} column={c.key} sort={sort} onSort={onSort} />
            </div>
          ))}
        </div>
        <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
          {virtualizer.getVirtualItems().map((item) => {
            const node = rows[item.index];
            return (
              <div
                key={node.id}
                className="table-row"
                role="row"
                data-testid="spans-table-row"
                data-span-id={node.id}
                style={{ transform: `translateY(${item.start}px)` }}
                onClick={() => onShowSpan(node.id)}
              >
                <div role="cell" className="cell-service">
                  <span className="service-mark" style={{ background: colorOf(node.service) }} /> {node.service}
                </div>
                <div role="cell" className="cell-text" title={node.span.operationName}>
                  {node.span.operationName}
                </div>
                <div role="cell" className="num">
                  +{formatDuration(node.offset)}
                </div>
                <div role="cell" className="num">
                  {formatDuration(node.span.duration)}
                </div>
                <div role="cell" className="num">
                  {formatDuration(node.selfTime)}
                </div>
                <div role="cell">{node.error && <span className="error-icon">!</span>}</div>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
