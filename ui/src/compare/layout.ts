// Lays a diff tree out top-down with dagre, each node a fixed-size card.
import dagre from "@dagrejs/dagre";
import type { DiffNode } from "./diff";

export const CARD_WIDTH = 230;
export const CARD_HEIGHT = 64;

export interface DiffLayout {
  cards: { node: DiffNode; x: number; y: number }[];
  edges: { from: DiffNode; to: DiffNode; points: { x: number; y: number }[] }[];
  width: number;
  height: number;
}

/** Places `nodes` (a subset closed under parents) with edges from each node to its children. */
export function layoutDiff(nodes: readonly DiffNode[]): DiffLayout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: 18, ranksep: 36, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  const included = new Set(nodes);
  for (const node of nodes) g.setNode(node.key, { width: CARD_WIDTH, height: CARD_HEIGHT });
  for (const node of nodes) if (node.parent && included.has(node.parent)) g.setEdge(node.parent.key, node.key);
  dagre.layout(g);
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const graph = g.graph();
  return {
    cards: nodes.map((node) => {
      const { x, y } = g.node(node.key);
      return { node, x: x - CARD_WIDTH / 2, y: y - CARD_HEIGHT / 2 };
    }),
    edges: g.edges().map((e) => ({ from: byKey.get(e.v)!, to: byKey.get(e.w)!, points: g.edge(e).points ?? [] })),
    width: graph.width ?? 0,
    height: graph.height ?? 0,
  };
}
