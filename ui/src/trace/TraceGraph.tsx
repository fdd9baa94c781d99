// The trace as a directed graph laid out by dagre: services, or service + operation pairs,
// joined by their calls with counts. SVG, with wheel zoom and drag to pan.
import { useEffect, useMemo, useRef, useState, type PointerEvent as ReactPointerEvent } from "react";
import dagre from "@dagrejs/dagre";
import { formatDuration } from "../format";
import type { TraceModel } from "../model";
import { colorOf } from "./colors";
import { traceGraph, type GraphData, type GraphLevel, type GraphNode } from "./graphData";

/** Beyond this many nodes the layout takes seconds and the picture says nothing. */
const MAX_NODES = 400;
const NODE_HEIGHT = { service: 46, operation: 62 };

interface Layout {
  width: number;
  height: number;
  nodes: { node: GraphNode; x: number; y: number; width: number; height: number }[];
  edges: { from: string; to: string; count: number; points: { x: number; y: number }[] }[];
}

function nodeWidth(node: GraphNode): number {
  const longest = Math.max(node.service.length, node.operation?.length ?? 0, 18);
  return Math.min(longest * 7.2 + 28, 320);
}

/** Cuts a label to what fits in a node of the given width. */
function clip(text: string, width: number): string {
  const chars = Math.floor((width - 24) / 7.2);
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}

function layoutGraph(data: GraphData, level: GraphLevel): Layout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 70, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of data.nodes) g.setNode(node.id, { width: nodeWidth(node), height: NODE_HEIGHT[level] });
  for (const edge of data.edges) g.setEdge(edge.from, edge.to);
  dagre.layout(g);
  const graph = g.graph();
  return {
    width: graph.width ?? 0,
    height: graph.height ?? 0,
    nodes: data.nodes.map((node) => {
      const n = g.node(node.id);
      return { node, x: n.x ?? 0, y: n.y ?? 0, width: n.width, height: n.height };
    }),
    edges: data.edges.map((e) => ({ ...e, points: g.edge(e.from, e.to).points ?? [] })),
  };
}

interface Transform {
  x: number;
  y: number;
  k: number;
}

/** Scale and offset that fit the layout into the viewport, never enlarging past 1:1. */
function fit(layout: Layout, width: number, height: number): Transform {
  const k = Math.min(1, width / Math.max(layout.width, 1), height / Math.max(layout.height, 1));
  return { k, x: (width - layout.width * k) / 2, y: Math.max((height - layout.height * k) / 2, 0) };
}

export function TraceGraph({ model }: { model: TraceModel }) {
  const [level, setLevel] = useState<GraphLevel>("service");
  const data = useMemo(() => traceGraph(model, level), [model, level]);
  const tooBig = data.nodes.length > MAX_NODES;
  const layout = useMemo(() => (tooBig ? null : layoutGraph(data, level)), [data, level, tooBig]);
  const svgRef = useRef<SVGSVGElement>(null);
  const [transform, setTransform] = useState<Transform>({ x: 0, y: 0, k: 1 });
  const drag = useRef<{ x: number; y: number } | null>(null);
  const maxCount = Math.max(1, ...data.edges.map((e) => e.count));

  const resetView = () => {
    const svg = svgRef.current;
    if (svg && layout) setTransform(fit(layout, svg.clientWidth, svg.clientHeight));
  };
  useEffect(() => {
    const svg = svgRef.current;
    if (svg && layout) setTransform(fit(layout, svg.clientWidth, svg.clientHeight));
  }, [layout]);

  // Wheel zoom around the cursor; a native listener, as React's wheel events are passive.
  useEffect(() => {
    const svg = svgRef.current;
    if (!svg) return;
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const rect = svg.getBoundingClientRect();
      const mx = e.clientX - rect.left;
      const my = e.clientY - rect.top;
      setTransform((t) => {
        const k = Math.min(Math.max(t.k * Math.exp(-e.deltaY * 0.0015), 0.05), 4);
        return { k, x: mx - ((mx - t.x) * k) / t.k, y: my - ((my - t.y) * k) / t.k };
      });
    };
    svg.addEventListener("wheel", onWheel, { passive: false });
    return () => svg.removeEventListener("wheel", onWheel);
  }, [layout]);

  const onPointerDown = (e: ReactPointerEvent<SVGSVGElement>) => {
    e.currentTarget.setPointerCapture(e.pointerId);
    drag.current = { x: e.clientX, y: e.clientY };
  };
  const onPointerMove = (e: ReactPointerEvent<SVGSVGElement>) => {
    const last = drag.current;
    if (!last) return;
    drag.current = { x: e.clientX, y: e.clientY };
    setTransform((t) => ({ ...t, x: t.x + e.clientX - last.x, y: t.y + e.clientY - last.y }));
  };

  return (
    <div className="trace-graph" data-testid="trace-graph">
      <div className="view-toolbar">
        <div className="view-switcher" role="group" aria-label="Graph level">
          <button data-testid="graph-services" className={level === "service" ? "active" : undefined} onClick={() => setLevel("service")}>
            Services
          </button>
          <button data-testid="graph-operations" className={level === "operation" ? "active" : undefined} onClick={() => setLevel("operation")}>
            Operations
          </button>
        </div>
        <button onClick={resetView}>Fit</button>
        <span className="muted">
          {data.nodes.length} nodes, {data.edges.length} edges · scroll to zoom, drag to pan
        </span>
      </div>
      {tooBig ? (
        <p className="empty">
          {data.nodes.length.toLocaleString()} distinct operations are too many to draw as a graph; the service graph,
          the statistics and the spans table summarise them.
        </p>
      ) : (
        <svg
          ref={svgRef}
          className="graph-svg"
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerUp={() => (drag.current = null)}
          onPointerCancel={() => (drag.current = null)}
        >
          <defs>
            <marker
              id="trace-graph-arrow"
              viewBox="0 0 10 10"
              refX="9"
              refY="5"
              markerWidth="9"
              markerHeight="9"
              markerUnits="userSpaceOnUse"
              orient="auto"
            >
              <path d="M0,0 L10,5 L0,10 z" className="graph-arrow" />
            </marker>
          </defs>
          <g transform={`translate(${transform.x},${transform.y}) scale(${transform.k})`}>
            {layout?.edges.map((e) => {
              const mid = e.points[Math.floor(e.points.length / 2)];
              return (
                <g key={`${e.from}\u0001${e.to}`} data-testid="graph-edge">
                  <path
                    className="graph-edge"
                    d={e.points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x},${p.y}`).join(" ")}
                    strokeWidth={1 + 3 * Math.log1p(e.count) / Math.log1p(maxCount)}
                    markerEnd="url(#trace-graph-arrow)"
                  />
                  {mid && (
                    <text className="graph-edge-label" x={mid.x} y={mid.y - 4} textAnchor="middle">
                      {e.count}×
                    </text>
                  )}
                </g>
              );
            })}
            {layout?.nodes.map(({ node, x, y, width, height }) => (
              <g
                key={node.id}
                transform={`translate(${x - width / 2},${y - height / 2})`}
                data-testid="graph-node"
                className={node.errors > 0 ? "graph-node has-errors" : "graph-node"}
              >
                <title>
                  {`${node.service}${node.operation ? `: ${node.operation}` : ""}\n${node.count} spans, ${node.errors} errors\ntotal ${formatDuration(node.total)}, self ${formatDuration(node.self)}`}
                </title>
                <rect width={width} height={height} rx={5} />
                <rect width={6} height={height} rx={2} fill={colorOf(node.service)} className="graph-node-stripe" />
                {node.operation === undefined ? (
                  <>
                    <text x={14} y={19} className="graph-node-title">{clip(node.service, width)}</text>
                    <text x={14} y={36} className="graph-node-meta">
                      {node.count} spans{node.errors > 0 ? ` · ${node.errors} errors` : ""}
                    </text>
                  </>
                ) : (
                  <>
                    <text x={14} y={17} className="graph-node-meta">{clip(node.service, width)}</text>
                    <text x={14} y={34} className="graph-node-title">{clip(node.operation, width)}</text>
                    <text x={14} y={51} className="graph-node-meta">
                      {node.count}× · {formatDuration(node.total)}
                      {node.errors > 0 ? ` · ${node.errors} errors` : ""}
                    </text>
                  </>
                )}
              </g>
            ))}
          </g>
        </svg>
      )}
    </div>
  );
}
