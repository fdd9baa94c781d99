// The diff as a top-down tree of cards laid out by dagre, in a pan/zoom viewport. A card's
// border tells the structure (added, removed, count changed); its delta line tells latency.
import { useMemo } from "react";
import { edgePath, PanZoom } from "../deps/PanZoom";
import { serviceColor } from "../serviceColor";
import { LatencyDelta, SideFigures } from "./DiffParts";
import type { DiffNode } from "./diff";
import { CARD_HEIGHT, CARD_WIDTH, layoutDiff } from "./layout";

export function DiffGraph({ nodes }: { nodes: DiffNode[] }) {
  const layout = useMemo(() => layoutDiff(nodes), [nodes]);
  return (
    <PanZoom width={layout.width} height={layout.height} label="Trace comparison tree" testId="compare-graph">
      {layout.edges.map((e) => (
        <path key={e.to.key} d={edgePath(e.points)} className={`cmp-edge ${e.to.status}`} />
      ))}
      {layout.cards.map(({ node, x, y }) => (
        <foreignObject key={node.key} x={x} y={y} width={CARD_WIDTH} height={CARD_HEIGHT}>
          <div
            className={`cmp-card ${node.status}`}
            data-testid="diff-node"
            data-diff={node.status}
            title={`${node.service}: ${node.operation}`}
          >
            <div className="cmp-card-title">
              <span className="cmp-dot" style={{ background: serviceColor(node.service) }} />
              <span className="cmp-service">{node.service}</span>
              <span className="cmp-operation">{node.operation}</span>
            </div>
            <div className="cmp-card-sides">
              <SideFigures side={node.a} label="A" />
              <SideFigures side={node.b} label="B" />
            </div>
            <LatencyDelta node={node} />
          </div>
        </foreignObject>
      ))}
    </PanZoom>
  );
}
