// The dependency DAG in SVG: services as boxes, calls as arrows whose width grows with
// log(callCount). Hovering a service lights up its calls; clicking it focuses it.
import { useMemo, useState } from "react";
import { serviceColor } from "../serviceColor";
import type { DependencyLink } from "../types";
import { edgeWidth, layoutGraph, selfCallWidth } from "./graph";
import { edgePath, PanZoom } from "./PanZoom";

/** A service's calls to itself, as a "↻ 27" badge inside its node. */
function SelfCall({ link, x, height }: { link: DependencyLink; x: number; height: number }) {
  const calls = link.callCount.toLocaleString();
  return (
    <g data-testid="dep-edge" data-parent={link.parent} data-child={link.child} className="dep-self" transform={`translate(${x},5)`}>
      <title>{`${link.parent} calls itself: ${calls} calls`}</title>
      <rect width={selfCallWidth(link)} height={height - 10} rx={4} />
      <text x={selfCallWidth(link) / 2} y={(height - 10) / 2} dy="0.35em" textAnchor="middle">
        ↻ {calls}
      </text>
    </g>
  );
}

export function DependencyGraph({
  services,
  links,
  matches,
  focus,
  onFocus,
}: {
  services: string[];
  links: DependencyLink[];
  /** Services matching the filter box; when non-empty, the others are dimmed. */
  matches: ReadonlySet<string>;
  focus: string | null;
  onFocus: (service: string) => void;
}) {
  const layout = useMemo(() => layoutGraph(services, links), [services, links]);
  const [hovered, setHovered] = useState<string | null>(null);
  const maxCalls = useMemo(() => links.reduce((m, l) => Math.max(m, l.callCount), 1), [links]);
  const touches = (l: DependencyLink) => hovered !== null && (l.parent === hovered || l.child === hovered);
  /** The hovered service and those it calls or is called by. */
  const lit = useMemo(() => {
    if (hovered === null) return null;
    const names = new Set([hovered]);
    for (const l of links) if (l.parent === hovered || l.child === hovered) names.add(l.parent).add(l.child);
    return names;
  }, [hovered, links]);

  return (
    <PanZoom width={layout.width} height={layout.height} label="Service dependency graph" testId="dependency-graph">
      <defs>
        <marker id="dep-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" orient="auto">
          <path d="M0,0 L10,5 L0,10 z" className="dep-arrow" />
        </marker>
        <marker id="dep-arrow-hot" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" orient="auto">
          <path d="M0,0 L10,5 L0,10 z" className="dep-arrow hot" />
        </marker>
      </defs>
      {layout.edges.map((e) => {
        const hot = touches(e.link);
        const dim = (hovered !== null && !hot) || (matches.size > 0 && !matches.has(e.link.parent) && !matches.has(e.link.child));
        const calls = e.link.callCount.toLocaleString();
        return (
          <g
            key={`${e.link.parent}\u0000${e.link.child}`}
            data-testid="dep-edge"
            data-parent={e.link.parent}
            data-child={e.link.child}
            className={`dep-edge${hot ? " hot" : ""}${dim ? " dim" : ""}`}
          >
            <title>{`${e.link.parent} → ${e.link.child}: ${calls} calls`}</title>
            <path
              d={edgePath(e.points)}
              strokeWidth={edgeWidth(e.link.callCount, maxCalls)}
              markerEnd={`url(#${hot ? "dep-arrow-hot" : "dep-arrow"})`}
            />
            <text x={e.label.x} y={e.label.y} dy="0.35em" textAnchor="middle" className="dep-edge-label">
              {calls}
            </text>
          </g>
        );
      })}
      {layout.nodes.map((n) => {
        const dim = (matches.size > 0 && !matches.has(n.name)) || (lit !== null && !lit.has(n.name));
        const classes = ["dep-node", matches.has(n.name) && "match", focus === n.name && "focused", dim && "dim"];
        return (
          <g
            key={n.name}
            data-testid="dep-node"
            data-service={n.name}
            className={classes.filter(Boolean).join(" ")}
            transform={`translate(${n.x - n.width / 2},${n.y - n.height / 2})`}
            role="button"
            tabIndex={0}
            aria-pressed={focus === n.name}
            aria-label={`${n.name}: ${focus === n.name ? "unfocus" : "focus on its neighbourhood"}`}
            onClick={() => onFocus(n.name)}
            onKeyDown={(e) => {
              if (e.key === "Enter" || e.key === " ") {
                e.preventDefault();
                onFocus(n.name);
              }
            }}
            onPointerEnter={() => setHovered(n.name)}
            onPointerLeave={() => setHovered(null)}
            onFocus={() => setHovered(n.name)}
            onBlur={() => setHovered(null)}
          >
            <rect width={n.width} height={n.height} rx={5} className="dep-node-box" />
            <rect width={6} height={n.height} rx={2} fill={serviceColor(n.name)} className="dep-node-swatch" />
            <text x={16} y={n.height / 2} dy="0.35em">
              {n.name}
            </text>
            {n.selfCall && <SelfCall link={n.selfCall} x={n.width - selfCallWidth(n.selfCall) - 4} height={n.height} />}
          </g>
        );
      })}
    </PanZoom>
  );
}
