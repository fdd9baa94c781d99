// The diff as an indented table: one row per (service, operation) path, with counts and
// average durations on both sides. Compact for big traces where the graph gets wide; rows are
// virtualised, so a 10,000-path diff scrolls smoothly.
import { useVirtualizer } from "@tanstack/react-virtual";
import { useRef } from "react";
import { formatDuration } from "../format";
import { serviceColor } from "../serviceColor";
import { average, type DiffNode } from "./diff";
import { LatencyDelta } from "./DiffParts";

const STATUS_LABEL = { added: "added", removed: "removed", changed: "count", same: "" } as const;
const ROW_HEIGHT = 27;

function Count({ node, side }: { node: DiffNode; side: "a" | "b" }) {
  const s = node[side];
  return (
    <>
      {s.errors > 0 && <span className="cmp-errors">{s.errors} err · </span>}
      {s.count || "–"}
    </>
  );
}

const avg = (n: DiffNode, side: "a" | "b") => (n[side].count > 0 ? formatDuration(average(n[side])) : "–");

export function DiffTable({ nodes }: { nodes: DiffNode[] }) {
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: nodes.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 20,
  });
  const items = virtual.getVirtualItems();
  const before = items.length > 0 ? items[0].start : 0;
  const after = items.length > 0 ? virtual.getTotalSize() - items[items.length - 1].end : 0;
  return (
    <div className="cmp-table-wrap" ref={scroller}>
      <table className="cmp-table" data-testid="compare-table">
        <thead>
          <tr>
            <th>Service: operation</th>
            <th className="num">Spans A</th>
            <th className="num">Spans B</th>
            <th className="num">Avg A</th>
            <th className="num">Avg B</th>
            <th className="num">Δ avg</th>
          </tr>
        </thead>
        <tbody>
          {before > 0 && <tr style={{ height: before }} aria-hidden />}
          {items.map((item) => {
            const n = nodes[item.index];
            return (
              <tr key={n.key} className={`cmp-row ${n.status}`} data-testid="diff-node" data-diff={n.status} style={{ height: ROW_HEIGHT }}>
                <td style={{ paddingLeft: 8 + n.depth * 16 }}>
                  <span className="cmp-dot" style={{ background: serviceColor(n.service) }} />
                  <span className="cmp-service">{n.service}</span> {n.operation}
                  {n.status !== "same" && <span className={`cmp-badge ${n.status}`}>{STATUS_LABEL[n.status]}</span>}
                </td>
                <td className="num">
                  <Count node={n} side="a" />
                </td>
                <td className="num">
                  <Count node={n} side="b" />
                </td>
                <td className="num">{avg(n, "a")}</td>
                <td className="num">{avg(n, "b")}</td>
                <td className="num">
                  <LatencyDelta node={n} />
                </td>
              </tr>
            );
          })}
          {after > 0 && <tr style={{ height: after }} aria-hidden />}
        </tbody>
      </table>
    </div>
  );
}
