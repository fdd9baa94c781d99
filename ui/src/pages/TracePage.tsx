export function TracePage({ traceId }: { traceId: string }) {
  return <p className="empty">Trace {traceId}: not built yet.</p>;
}
