// One timeline row: the tree cell (indent, fold toggle, service, operation, error mark) and the
// bar cell (the span's bar in the zoom window, its critical-path stretches and duration).
import { memo } from "react";
import { formatDuration } from "../format";
import type { CriticalSegment, SpanNode } from "../model";
import { colorOf } from "./colors";

/** Indentation per tree level, px. */
const INDENT = 14;

interface SpanRowProps {
  node: SpanNode;
  /** The zoom window in µs relative to the trace start. */
  viewStart: number;
  viewSpan: number;
  /** Most indentation, px, so that deep traces keep their names in view; deeper rows show their level. */
  maxIndent: number;
  collapsed: boolean;
  /** Spans hidden under this one while collapsed. */
  hidden: number;
  open: boolean;
  focused: boolean;
  match: boolean;
  currentMatch: boolean;
  critical: CriticalSegment[] | undefined;
  onToggleCollapse: (id: string) => void;
  onToggleOpen: (id: string) => void;
}

export const SpanRow = memo(function SpanRow(props: SpanRowProps) {
  const { node, viewStart, viewSpan, maxIndent, collapsed, hidden, open, focused, match, currentMatch, critical } = props;
  const { span } = node;
  const color = colorOf(node.service);
  const left = (node.offset - viewStart) / viewSpan;
  const width = span.duration / viewSpan;
  const end = left + width;
  // The duration goes after the bar, else before it, else inside its right end.
  const labelStyle =
    end < 0.8 ? { left: `${end * 100}%` } : left > 0.12 ? { right: `${(1 - left) * 100}%` } : { right: `${(1 - Math.min(end, 1)) * 100}%` };
  const labelInside = end >= 0.8 && left <= 0.12;
  const indent = node.depth * INDENT;
  const classes = ["span-row"];
  if (open) classes.push("open");
  if (focused) classes.push("focused");
  if (match) classes.push("match");
  if (currentMatch) classes.push("current-match");
  if (node.error) classes.push("has-error");
  return (
    <div
      className={classes.join(" ")}
      data-testid="span-row"
      data-span-id={node.id}
      role="row"
      aria-level={node.depth + 1}
      aria-expanded={node.children.length > 0 ? !collapsed : undefined}
      aria-selected={open}
      onClick={() => props.onToggleOpen(node.id)}
    >
      <div className="span-name" role="gridcell" style={{ paddingLeft: Math.min(indent, maxIndent) }}>
        {indent > maxIndent && (
          <span className="depth-badge" title={`Depth ${node.depth}`}>
            {node.depth}
          </span>
        )}
        {node.children.length > 0 ? (
          <button
            className="span-toggle"
            data-testid="span-toggle"
            aria-label={collapsed ? "Expand" : "Collapse"}
            aria-expanded={!collapsed}
            tabIndex={-1}
            onClick={(e) => {
              e.stopPropagation();
              props.onToggleCollapse(node.id);
            }}
          >
            {collapsed ? "▸" : "▾"}
          </button>
        ) : (
          <span className="span-toggle-spacer" />
        )}
        <span className="service-mark" style={{ background: color }} />
        <span className="span-service">{node.service}</span>
        <span className="span-op" title={`${node.service}: ${span.operationName}`}>
          {span.operationName}
        </span>
        {node.error && (
          <span className="error-icon" title="Error" aria-label="error">
            !
          </span>
        )}
        {collapsed && hidden > 0 && <span className="hidden-count">+{hidden}</span>}
      </div>
      <div className="span-bar-cell" role="gridcell">
        <div className="span-bar" style={{ left: `${left * 100}%`, width: `${width * 100}%`, background: color }}>
          {critical?.map((s) => (
            <span
              key={s.start}
              className="critical"
              style={{
                left: `${((s.start - span.startTime) / Math.max(span.duration, 1)) * 100}%`,
                width: `${((s.end - s.start) / Math.max(span.duration, 1)) * 100}%`,
              }}
            />
          ))}
        </div>
        <span className={labelInside ? "span-duration inside" : "span-duration"} style={labelStyle}>
          {formatDuration(span.duration)}
        </span>
      </div>
    </div>
  );
});
