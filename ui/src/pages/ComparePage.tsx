export function ComparePage({ a, b }: { a?: string; b?: string }) {
  return (
    <p className="empty">
      Compare {a} {b}: not built yet.
    </p>
  );
}
