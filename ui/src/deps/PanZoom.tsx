// An SVG viewport with wheel zoom around the cursor, drag to pan, keyboard control (arrows,
// + and −, 0 to fit) and zoom/fit buttons. It fits the content whenever the content's size
// changes. Used by the dependency graph and the compare view.
import { useCallback, useEffect, useRef, useState, type KeyboardEvent, type PointerEvent, type ReactNode } from "react";

interface Transform {
  x: number;
  y: number;
  k: number;
}

const MIN_SCALE = 0.05;
const MAX_SCALE = 4;
/** Pointer travel, in px, after which a press is a drag and not a click. */
const DRAG_THRESHOLD = 4;

const clampScale = (k: number) => Math.min(MAX_SCALE, Math.max(MIN_SCALE, k));

export function PanZoom({
  width,
  height,
  label,
  testId,
  children,
}: {
  /** The content's size in SVG units. */
  width: number;
  height: number;
  label: string;
  testId?: string;
  children: ReactNode;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [view, setView] = useState<Transform>({ x: 0, y: 0, k: 1 });
  const drag = useRef<{ id: number; x: number; y: number; start: Transform; moved: boolean } | null>(null);

  const fit = useCallback(() => {
    const el = box.current;
    if (!el || width <= 0 || height <= 0) return;
    const { clientWidth: w, clientHeight: h } = el;
    const k = clampScale(Math.min(w / width, h / height, 1.5));
    setView({ k, x: (w - width * k) / 2, y: (h - height * k) / 2 });
  }, [width, height]);

  useEffect(fit, [fit]);

  const zoomAt = useCallback((factor: number, cx?: number, cy?: number) => {
    const el = box.current;
    if (!el) return;
    const px = cx ?? el.clientWidth / 2;
    const py = cy ?? el.clientHeight / 2;
    setView((v) => {
      const k = clampScale(v.k * factor);
      return { k, x: px - ((px - v.x) * k) / v.k, y: py - ((py - v.y) * k) / v.k };
    });
  }, []);

  // React's wheel listeners are passive; this one must be able to stop the page scrolling.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const rect = el.getBoundingClientRect();
      const delta = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
      zoomAt(Math.exp(-delta * 0.0015), e.clientX - rect.left, e.clientY - rect.top);
    };
    el.addEventListener("wheel", onWheel, { passive: false });
    return () => el.removeEventListener("wheel", onWheel);
  }, [zoomAt]);

  const onPointerDown = (e: PointerEvent<SVGSVGElement>) => {
    if (e.button !== 0) return;
    drag.current = { id: e.pointerId, x: e.clientX, y: e.clientY, start: view, moved: false };
  };
  const onPointerMove = (e: PointerEvent<SVGSVGElement>) => {
    const d = drag.current;
    if (!d || d.id !== e.pointerId) return;
    const dx = e.clientX - d.x;
    const dy = e.clientY - d.y;
    if (!d.moved && Math.hypot(dx, dy) < DRAG_THRESHOLD) return;
    if (!d.moved) {
      // Capturing only once it is a drag keeps plain clicks on nodes working; the click that
      // ends a drag then lands on the SVG itself, not on a node.
      d.moved = true;
      e.currentTarget.setPointerCapture(e.pointerId);
    }
    setView({ ...d.start, x: d.start.x + dx, y: d.start.y + dy });
  };
  const onPointerUp = () => {
    drag.current = null;
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.target !== e.currentTarget) return;
    const step = 60;
    const pan = (dx: number, dy: number) => setView((v) => ({ ...v, x: v.x + dx, y: v.y + dy }));
    const actions: Record<string, () => void> = {
      ArrowLeft: () => pan(step, 0),
      ArrowRight: () => pan(-step, 0),
      ArrowUp: () => pan(0, step),
      ArrowDown: () => pan(0, -step),
      "+": () => zoomAt(1.25),
      "=": () => zoomAt(1.25),
      "-": () => zoomAt(0.8),
      "0": fit,
    };
    const action = actions[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  };

  return (
    <div className="panzoom">
      <div
        ref={box}
        className="panzoom-viewport"
        tabIndex={0}
        role="group"
        aria-label={`${label}. Drag or use the arrow keys to pan, the wheel or + and − to zoom, 0 to fit.`}
        onKeyDown={onKeyDown}
      >
        <svg
          data-testid={testId}
          width="100%"
          height="100%"
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerUp={onPointerUp}
          onPointerCancel={onPointerUp}
        >
          <g transform={`translate(${view.x},${view.y}) scale(${view.k})`}>{children}</g>
        </svg>
      </div>
      <div className="panzoom-controls">
        <button type="button" onClick={() => zoomAt(1.25)} aria-label="Zoom in" title="Zoom in (+)">
          +
        </button>
        <button type="button" onClick={() => zoomAt(0.8)} aria-label="Zoom out" title="Zoom out (−)">
          −
        </button>
        <button type="button" onClick={fit} data-testid="fit-button" title="Fit to the view (0)">
          Fit
        </button>
      </div>
    </div>
  );
}

/** An SVG path through dagre's edge points, smoothed with quadratic curves. */
export function edgePath(points: readonly { x: number; y: number }[]): string {
  if (points.length === 0) return "";
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const p = points[i];
    const next = points[i + 1];
    d += ` Q${p.x},${p.y} ${(p.x + next.x) / 2},${(p.y + next.y) / 2}`;
  }
  const last = points[points.length - 1];
  return `${d} L${last.x},${last.y}`;
}
