// The timeline (Gantt) view: minimap, search, time ruler and a virtualised span tree whose rows
// open an inline detail. Only the rows in view are rendered, so a 10,000-span trace stays smooth;
// everything per span (visible rows, matches, critical path, descendant counts) is memoised.
import {
  useCallback,
  useEffect,
  useEffectEvent,
  useMemo,
  useRef,
  useState,
  type CSSProperties,
  type KeyboardEvent as ReactKeyboardEvent,
  type PointerEvent as ReactPointerEvent,
} from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { criticalPath, visibleSpans, type TraceModel } from "../model";
import { descendantCounts, FULL_RANGE, parentIds, segmentsBySpan, type ViewRange } from "./layout";
import { Minimap } from "./Minimap";
import { ancestorIds, findSpans } from "./search";
import { SpanDetail } from "./SpanDetail";
import { SpanRow } from "./SpanRow";
import { GridLines, TimeRuler } from "./TimeRuler";
import { useElementWidth } from "./useElementWidth";
import { useTraceSearch } from "./useTraceSearch";

const ROW_HEIGHT = 24;
const HEADER_HEIGHT = 28;
const DETAIL_ESTIMATE = 420;
const MIN_NAME_WIDTH = 160;
const MIN_BAR_WIDTH = 200;

interface ScrollRequest {
  id: string;
  align: "auto" | "center";
}

/** Adds or removes `id` from a set, returning a new set. */
function toggled(set: ReadonlySet<string>, id: string): Set<string> {
  const next = new Set(set);
  if (!next.delete(id)) next.add(id);
  return next;
}

export function Timeline({ model }: { model: TraceModel }) {
  const { initialQuery, query, setQuery, activeQuery, matches, matchSet, matchIndex, setMatchIndex } =
    useTraceSearch(model);

  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(() => new Set());
  const [open, setOpen] = useState<ReadonlySet<string>>(() => new Set());
  const [focusedId, setFocusedId] = useState<string | null>(null);
  const [range, setRange] = useState<ViewRange>(FULL_RANGE);
  const [showCritical, setShowCritical] = useState(true);
  const [nameWidth, setNameWidth] = useState(380);
  const [scrollRequest, setScrollRequest] = useState<ScrollRequest | null>(null);

  const rows = useMemo(() => visibleSpans(model, collapsed), [model, collapsed]);
  const rowIndex = useMemo(() => new Map(rows.map((node, i) => [node.id, i])), [rows]);
  const critical = useMemo(() => segmentsBySpan(criticalPath(model)), [model]);
  const hiddenCounts = useMemo(() => descendantCounts(model), [model]);
  const spanIndex = useMemo(() => new Map(model.spans.map((node, i) => [node.id, i])), [model]);

  const scrollRef = useRef<HTMLDivElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const width = useElementWidth(scrollRef);
  const barWidth = Math.max(width - nameWidth, MIN_BAR_WIDTH);

  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: (i) => (open.has(rows[i].id) ? DETAIL_ESTIMATE : ROW_HEIGHT),
    getItemKey: (i) => rows[i].id,
    overscan: 12,
    scrollMargin: HEADER_HEIGHT,
    scrollPaddingStart: HEADER_HEIGHT,
  });

  useEffect(() => {
    if (!scrollRequest) return;
    const index = rowIndex.get(scrollRequest.id);
    if (index !== undefined) virtualizer.scrollToIndex(index, { align: scrollRequest.align });
    setScrollRequest(null);
  }, [scrollRequest, rowIndex, virtualizer]);

  /** Unfolds the span's ancestors, focuses it and scrolls to it; optionally opens its detail. */
  const reveal = useCallback(
    (id: string, openDetail: boolean, align: ScrollRequest["align"] = "center") => {
      const node = model.byId.get(id);
      if (!node) return;
      const ancestors = new Set(ancestorIds(node));
      setCollapsed((prev) =>
        [...ancestors].some((a) => prev.has(a)) ? new Set([...prev].filter((c) => !ancestors.has(c))) : prev,
      );
      if (openDetail) setOpen((prev) => (prev.has(id) ? prev : new Set(prev).add(id)));
      setFocusedId(id);
      setScrollRequest({ id, align });
    },
    [model],
  );

  // ?uiFind= on load: go to the first match; a span ID also opens that span's detail.
  useEffect(() => {
    const found = findSpans(model, initialQuery);
    if (found.length === 0) return;
    const spanId = initialQuery.trim();
    const index = model.byId.has(spanId) ? Math.max(found.indexOf(spanId), 0) : 0;
    setMatchIndex(index);
    reveal(found[index], found[index] === spanId);
  }, [model, initialQuery, reveal, setMatchIndex]);

  const goToMatch = (delta: 1 | -1) => {
    if (matches.length === 0) return;
    const next =
      matchIndex < 0 ? (delta > 0 ? 0 : matches.length - 1) : (matchIndex + delta + matches.length) % matches.length;
    setMatchIndex(next);
    reveal(matches[next], false);
  };

  const toggleCollapse = useCallback((id: string) => setCollapsed((prev) => toggled(prev, id)), []);
  const toggleOpen = useCallback((id: string) => {
    setOpen((prev) => toggled(prev, id));
    setFocusedId(id);
  }, []);
  const jump = useCallback((id: string) => reveal(id, true), [reveal]);

  const onKeyDown = useEffectEvent((e: KeyboardEvent) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target as HTMLElement | null;
    if (target?.closest("input, textarea, select, [contenteditable='true']")) return;
    if (e.key === "/") {
      e.preventDefault();
      searchRef.current?.focus();
      return;
    }
    if ((e.key === "Enter" || e.key === " ") && target?.closest("button, a, summary")) return;
    const index = focusedId === null ? -1 : (rowIndex.get(focusedId) ?? -1);
    const focusRow = (i: number) => {
      const node = rows[Math.min(Math.max(i, 0), rows.length - 1)];
      if (!node) return;
      setFocusedId(node.id);
      setScrollRequest({ id: node.id, align: "auto" });
    };
    const node = index >= 0 ? rows[index] : undefined;
    switch (e.key) {
      case "j":
      case "ArrowDown":
        focusRow(index + 1);
        break;
      case "k":
      case "ArrowUp":
        focusRow(index < 0 ? 0 : index - 1);
        break;
      case "Enter":
      case " ":
        if (!node) return;
        setOpen((prev) => toggled(prev, node.id));
        break;
      case "ArrowLeft":
        if (!node) return;
        if (node.children.length > 0 && !collapsed.has(node.id)) toggleCollapse(node.id);
        else if (node.parent) focusRow(rowIndex.get(node.parent.id) ?? index);
        break;
      case "ArrowRight":
        if (!node) return;
        if (collapsed.has(node.id)) toggleCollapse(node.id);
        else if (node.children.length > 0) focusRow(index + 1);
        break;
      default:
        return;
    }
    e.preventDefault();
  });
  useEffect(() => {
    const listener = (e: KeyboardEvent) => onKeyDown(e);
    document.addEventListener("keydown", listener);
    return () => document.removeEventListener("keydown", listener);
  }, []);

  const onSearchKey = (e: ReactKeyboardEvent<HTMLInputElement>) => {
    if (e.key === "Enter") {
      e.preventDefault();
      goToMatch(e.shiftKey ? -1 : 1);
    } else if (e.key === "Escape") {
      e.currentTarget.blur();
    }
  };

  const startResize = (e: ReactPointerEvent<HTMLDivElement>) => {
    e.currentTarget.setPointerCapture(e.pointerId);
    const left = scrollRef.current!.getBoundingClientRect().left;
    const move = (ev: PointerEvent) =>
      setNameWidth(Math.min(Math.max(ev.clientX - left, MIN_NAME_WIDTH), Math.max(width - MIN_BAR_WIDTH, MIN_NAME_WIDTH)));
    const target = e.currentTarget;
    const up = () => {
      target.removeEventListener("pointermove", move);
      target.removeEventListener("pointerup", up);
    };
    target.addEventListener("pointermove", move);
    target.addEventListener("pointerup", up);
  };

  const viewStart = model.duration * range.from;
  const viewSpan = Math.max(model.duration * (range.to - range.from), 1);
  const zoomed = range.from > 0 || range.to < 1;
  const maxIndent = Math.round(nameWidth * 0.4);
  const current = matchIndex >= 0 ? matches[matchIndex] : null;
  const items = virtualizer.getVirtualItems();
  const inView = virtualizer.range;
  const firstInView = inView ? rows[inView.startIndex] : undefined;
  const lastInView = inView ? rows[inView.endIndex] : undefined;
  // The rows in view as a band on the minimap, which draws every span in depth-first order.
  const band =
    firstInView && lastInView
      ? {
          from: (spanIndex.get(firstInView.id) ?? 0) / model.spans.length,
          to:
            ((spanIndex.get(lastInView.id) ?? 0) + 1 + (collapsed.has(lastInView.id) ? (hiddenCounts.get(lastInView.id) ?? 0) : 0)) /
            model.spans.length,
        }
      : undefined;

  return (
    <div className="timeline" data-testid="timeline">
      <div className="timeline-toolbar">
        <div className="trace-search">
          <input
            ref={searchRef}
            type="search"
            data-testid="trace-search"
            placeholder="Find in trace…  ( / )"
            aria-label="Find spans in this trace"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            onKeyDown={onSearchKey}
            spellCheck={false}
          />
          {activeQuery.trim() !== "" && (
            <span className="match-count" data-testid="match-count">
              {matches.length === 0
                ? "no matches"
                : matchIndex >= 0
                  ? `${matchIndex + 1} of ${matches.length}`
                  : `${matches.length} match${matches.length === 1 ? "" : "es"}`}
            </span>
          )}
          <button data-testid="match-prev" onClick={() => goToMatch(-1)} disabled={matches.length === 0} title="Previous match (Shift+Enter)">
            ↑
          </button>
          <button data-testid="match-next" onClick={() => goToMatch(1)} disabled={matches.length === 0} title="Next match (Enter)">
            ↓
          </button>
        </div>
        <button data-testid="collapse-all" onClick={() => setCollapsed(parentIds(model))}>
          Collapse all
        </button>
        <button data-testid="expand-all" onClick={() => setCollapsed(new Set())}>
          Expand all
        </button>
        <label className="check">
          <input
            type="checkbox"
            data-testid="critical-path-toggle"
            checked={showCritical}
            onChange={(e) => setShowCritical(e.target.checked)}
          />
          Critical path
        </label>
        {zoomed && (
          <button data-testid="reset-zoom" onClick={() => setRange(FULL_RANGE)}>
            Reset zoom
          </button>
        )}
        <span className="muted keys-hint" title="j/k or ↑/↓: move · Enter/Space: details · ←/→: fold · /: find">
          ⌨ j k ← → Enter /
        </span>
      </div>
      <Minimap
        model={model}
        range={range}
        onRange={setRange}
        band={band}
        onPick={(i) => reveal(model.spans[i].id, false)}
      />
      <div
        className="timeline-scroll"
        ref={scrollRef}
        style={{ "--tl-name": `${nameWidth}px` } as CSSProperties}
        role="treegrid"
        aria-rowcount={rows.length}
      >
        <div className="timeline-header" style={{ height: HEADER_HEIGHT }}>
          <div className="timeline-header-name">
            Service &amp; operation <span className="muted">({rows.length.toLocaleString()} rows)</span>
          </div>
          <TimeRuler start={viewStart} end={viewStart + viewSpan} width={barWidth} />
          <div className="col-resizer" onPointerDown={startResize} title="Drag to resize" />
        </div>
        <div className="timeline-rows" style={{ height: virtualizer.getTotalSize() }}>
          <GridLines start={viewStart} end={viewStart + viewSpan} width={barWidth} />
          {items.map((item) => {
            const node = rows[item.index];
            const isOpen = open.has(node.id);
            return (
              <div
                key={item.key}
                data-index={item.index}
                ref={virtualizer.measureElement}
                className="timeline-item"
                style={{ transform: `translateY(${item.start - HEADER_HEIGHT}px)` }}
              >
                <SpanRow
                  node={node}
                  viewStart={viewStart}
                  viewSpan={viewSpan}
                  maxIndent={maxIndent}
                  collapsed={collapsed.has(node.id)}
                  hidden={hiddenCounts.get(node.id) ?? 0}
                  open={isOpen}
                  focused={focusedId === node.id}
                  match={matchSet.has(node.id)}
                  currentMatch={current === node.id}
                  critical={showCritical ? critical.get(node.id) : undefined}
                  onToggleCollapse={toggleCollapse}
                  onToggleOpen={toggleOpen}
                />
                {isOpen && <SpanDetail node={node} model={model} onJump={jump} />}
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
