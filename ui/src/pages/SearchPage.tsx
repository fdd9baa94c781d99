export function SearchPage() {
  return <p className="empty">Search: not built yet.</p>;
}
