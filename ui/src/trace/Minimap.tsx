// The minimap over the timeline: every span as a thin bar on a canvas, a band marking the rows
// in view, and a time selection that can be brushed (drag on empty space), moved (drag inside
// it) or resized (drag its edges) to zoom the timeline. A plain click scrolls to that span.
import { useEffect, useMemo, useRef, useState, type PointerEvent as ReactPointerEvent } from "react";
import type { TraceModel } from "../model";
import { useSettings } from "../settings";
import { colorOf, prepareCanvas } from "./colors";
import { FULL_RANGE, normalizeRange, shiftRange, type ViewRange } from "./layout";
import { useElementWidth } from "./useElementWidth";

const HEIGHT = 60;
/** Pixels around a selection edge that grab the edge rather than the whole selection. */
const EDGE_GRAB = 5;

type Drag =
  | { kind: "brush"; anchor: number; moved: boolean }
  | { kind: "move"; anchor: number; start: ViewRange }
  | { kind: "resize"; fixed: number };

interface MinimapProps {
  model: TraceModel;
  range: ViewRange;
  onRange: (range: ViewRange) => void;
  /** The rows in view, as fractions of the span list (the minimap's height). */
  band?: { from: number; to: number };
  /** Called with an index into model.spans when the minimap is clicked. */
  onPick: (spanIndex: number) => void;
}

export function Minimap({ model, range, onRange, band, onPick }: MinimapProps) {
  const { theme } = useSettings();
  const wrapRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const width = useElementWidth(wrapRef);
  const [drag, setDrag] = useState<Drag | null>(null);

  // Bars grouped by colour, so that drawing sets fillStyle once per service.
  const bars = useMemo(() => {
    const byService = new Map<string, [number, number, number][]>();
    const duration = Math.max(model.duration, 1);
    model.spans.forEach((node, i) => {
      const list = byService.get(node.service) ?? [];
      list.push([node.offset / duration, node.span.duration / duration, i]);
      byService.set(node.service, list);
    });
    return byService;
  }, [model]);

  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas || width === 0) return;
    const ctx = prepareCanvas(canvas, width, HEIGHT);
    if (!ctx) return;
    ctx.clearRect(0, 0, width, HEIGHT);
    const rowHeight = HEIGHT / Math.max(model.spans.length, 1);
    const barHeight = Math.max(rowHeight, 1);
    for (const [service, list] of bars) {
      ctx.fillStyle = colorOf(service);
      for (const [x, w, i] of list) ctx.fillRect(x * width, i * rowHeight, Math.max(w * width, 1), barHeight);
    }
  }, [bars, width, model.spans.length, theme]);

  const fractionAt = (e: ReactPointerEvent) => {
    const rect = wrapRef.current!.getBoundingClientRect();
    return Math.min(Math.max((e.clientX - rect.left) / rect.width, 0), 1);
  };

  const onPointerDown = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (e.button !== 0) return;
    e.currentTarget.setPointerCapture(e.pointerId);
    const x = fractionAt(e);
    const grab = EDGE_GRAB / Math.max(width, 1);
    const zoomed = range.from > 0 || range.to < 1;
    if (zoomed && Math.abs(x - range.from) <= grab) setDrag({ kind: "resize", fixed: range.to });
    else if (zoomed && Math.abs(x - range.to) <= grab) setDrag({ kind: "resize", fixed: range.from });
    else if (zoomed && x > range.from && x < range.to) setDrag({ kind: "move", anchor: x, start: range });
    else setDrag({ kind: "brush", anchor: x, moved: false });
  };

  const onPointerMove = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (!drag) return;
    const x = fractionAt(e);
    if (drag.kind === "move") onRange(shiftRange(drag.start, x - drag.anchor));
    else if (drag.kind === "resize") onRange(normalizeRange(drag.fixed, x));
    else if (drag.moved || Math.abs(x - drag.anchor) * width >= 3) {
      if (!drag.moved) setDrag({ ...drag, moved: true });
      onRange(normalizeRange(drag.anchor, x));
    }
  };

  /** A click that brushed nothing scrolls the timeline to the span drawn at that height. */
  const onPointerUp = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (drag?.kind === "brush" && !drag.moved && model.spans.length > 0) {
      const rect = wrapRef.current!.getBoundingClientRect();
      const y = Math.min(Math.max((e.clientY - rect.top) / rect.height, 0), 0.9999);
      onPick(Math.floor(y * model.spans.length));
    }
    setDrag(null);
  };

  const zoomed = range.from > 0 || range.to < 1;
  return (
    <div className="minimap" data-testid="minimap">
      <div
        ref={wrapRef}
        className="minimap-canvas"
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={() => setDrag(null)}
        onDoubleClick={() => onRange(FULL_RANGE)}
        title="Drag to zoom the timeline, drag the selection to move it, double-click to reset; click to scroll there"
      >
        <canvas ref={canvasRef} />
        {band && band.to - band.from < 1 && (
          <div
            className="minimap-band"
            style={{ top: `${band.from * 100}%`, height: `${(band.to - band.from) * 100}%` }}
          />
        )}
        {zoomed && (
          <>
            <div className="minimap-shade" style={{ left: 0, width: `${range.from * 100}%` }} />
            <div className="minimap-shade" style={{ left: `${range.to * 100}%`, right: 0 }} />
            <div
              className="minimap-selection"
              data-testid="minimap-selection"
              style={{ left: `${range.from * 100}%`, width: `${(range.to - range.from) * 100}%` }}
            />
          </>
        )}
      </div>
    </div>
  );
}
