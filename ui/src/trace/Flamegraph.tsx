// The span tree as an icicle chart on a canvas: x is time, y is depth. Clicking a span zooms
// the x axis to it (spans outside its subtree are dimmed); hovering shows a tooltip.
import { useEffect, useMemo, useRef, useState, type MouseEvent as ReactMouseEvent } from "react";
import { formatDuration } from "../format";
import type { SpanNode, TraceModel } from "../model";
import { useSettings } from "../settings";
import { colorOf, cssVar, prepareCanvas } from "./colors";
import { descendantCounts } from "./layout";
import { ancestorIds } from "./search";
import { useElementWidth } from "./useElementWidth";

const ROW = 20;
/** Browsers cap canvas size; deeper levels than this are not drawn. */
const MAX_HEIGHT = 16_000;
const CHAR_WIDTH = 6.5;

interface Hover {
  node: SpanNode;
  x: number;
  y: number;
}

interface FlamegraphProps {
  model: TraceModel;
  onShowSpan: (spanId: string) => void;
}

export function Flamegraph({ model, onShowSpan }: FlamegraphProps) {
  const { theme } = useSettings();
  const wrapRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const width = useElementWidth(wrapRef);
  const [zoomId, setZoomId] = useState<string | null>(null);
  const [hover, setHover] = useState<Hover | null>(null);
  const zoom = zoomId === null ? undefined : model.byId.get(zoomId);
  const winStart = zoom ? zoom.offset : 0;
  const winSpan = Math.max(zoom ? zoom.span.duration : model.duration, 1);
  const height = Math.min((model.maxDepth + 1) * ROW, MAX_HEIGHT);

  const byDepth = useMemo(() => {
    const levels: SpanNode[][] = [];
    for (const node of model.spans) (levels[node.depth] ??= []).push(node);
    return levels;
  }, [model]);
  const descendants = useMemo(() => descendantCounts(model), [model]);
  const position = useMemo(() => new Map(model.spans.map((n, i) => [n.id, i])), [model]);

  // The zoomed span's subtree is a contiguous run of the depth-first order; its ancestors stay lit too.
  const focus = useMemo(() => {
    if (!zoom) return null;
    const first = position.get(zoom.id) ?? 0;
    return { first, last: first + (descendants.get(zoom.id) ?? 0), ancestors: new Set(ancestorIds(zoom)) };
  }, [zoom, position, descendants]);

  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas || width === 0) return;
    const ctx = prepareCanvas(canvas, width, height);
    if (!ctx) return;
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    const errorColor = cssVar("--error");
    const scale = width / winSpan;
    model.spans.forEach((node, i) => {
      const y = node.depth * ROW;
      if (y >= height) return;
      const x = (node.offset - winStart) * scale;
      const w = node.span.duration * scale;
      if (x + w < 0 || x > width) return;
      const x0 = Math.max(x, 0);
      const x1 = Math.min(x + w, width);
      const lit = !focus || (i >= focus.first && i <= focus.last) || focus.ancestors.has(node.id);
      ctx.globalAlpha = lit ? 1 : 0.3;
      ctx.fillStyle = colorOf(node.service);
      ctx.fillRect(x0, y + 1, Math.max(x1 - x0 - 1, 0.5), ROW - 2);
      if (node.error) {
        ctx.strokeStyle = errorColor;
        ctx.lineWidth = 2;
        ctx.strokeRect(x0 + 1, y + 2, Math.max(x1 - x0 - 3, 0.5), ROW - 4);
      }
      const chars = Math.floor((x1 - x0 - 8) / CHAR_WIDTH);
      if (chars >= 3) {
        const label = node.span.operationName;
        ctx.fillStyle = "rgba(0, 0, 0, 0.85)";
        ctx.fillText(label.length > chars ? `${label.slice(0, chars - 1)}…` : label, x0 + 4, y + ROW / 2);
      }
    });
    ctx.globalAlpha = 1;
  }, [model, width, height, winStart, winSpan, focus, theme]);

  const spanAt = (e: ReactMouseEvent<HTMLCanvasElement>): Hover | null => {
    const rect = e.currentTarget.getBoundingClientRect();
    const x = e.clientX - rect.left;
    const y = e.clientY - rect.top;
    const level = byDepth[Math.floor(y / ROW)];
    if (!level || width === 0) return null;
    const t = winStart + (x / width) * winSpan;
    const tolerance = winSpan / width; // a pixel, so that tiny spans can be hovered
    const node = level.find((n) => n.offset - tolerance <= t && t <= n.offset + n.span.duration + tolerance);
    return node ? { node, x, y } : null;
  };

  return (
    <div className="flamegraph" data-testid="flamegraph">
      <div className="view-toolbar">
        {zoom ? (
          <>
            <span>
              Zoomed into <strong>{zoom.service}</strong> {zoom.span.operationName} ({formatDuration(zoom.span.duration)})
            </span>
            {zoom.parent && <button onClick={() => setZoomId(zoom.parent!.id)}>Zoom out</button>}
            <button data-testid="flamegraph-reset" onClick={() => setZoomId(null)}>
              Reset zoom
            </button>
            <button onClick={() => onShowSpan(zoom.id)}>Show in timeline</button>
          </>
        ) : (
          <span className="muted">Click a span to zoom into it. Width is time; rows are tree depth.</span>
        )}
      </div>
      <div className="view-body flamegraph-body" ref={wrapRef}>
        <canvas
          ref={canvasRef}
          onMouseMove={(e) => setHover(spanAt(e))}
          onMouseLeave={() => setHover(null)}
          onClick={(e) => {
            const hit = spanAt(e);
            if (hit) setZoomId(hit.node.id);
          }}
          style={{ cursor: hover ? "pointer" : "default" }}
        />
        {hover && (
          <div
            className="flame-tooltip"
            data-testid="flamegraph-tooltip"
            style={{ left: Math.min(hover.x + 12, Math.max(width - 280, 0)), top: hover.y + 16 }}
          >
            <div>
              <strong style={{ color: colorOf(hover.node.service) }}>{hover.node.service}</strong>{" "}
              {hover.node.span.operationName}
            </div>
            <div>
              {formatDuration(hover.node.span.duration)} · self {formatDuration(hover.node.selfTime)} · starts +
              {formatDuration(hover.node.offset)}
            </div>
            {hover.node.error && <div className="error-text">error</div>}
          </div>
        )}
      </div>
    </div>
  );
}
