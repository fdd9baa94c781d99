export function DependenciesPage() {
  return <p className="empty">Dependencies: not built yet.</p>;
}
