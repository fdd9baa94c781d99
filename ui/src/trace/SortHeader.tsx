// Sortable column headers shared by the spans table and the statistics.

export interface SortState<K extends string> {
  key: K;
  desc: boolean;
}

/** Clicking the sorted column flips the direction; another column sorts descending first (numbers) or ascending (text). */
export function nextSort<K extends string>(sort: SortState<K>, key: K, textual: boolean): SortState<K> {
  return sort.key === key ? { key, desc: !sort.desc } : { key, desc: !textual };
}

/** The aria-sort value for a column header. */
export function ariaSort<K extends string>(sort: SortState<K>, column: K): "ascending" | "descending" | "none" {
  return sort.key === column ? (sort.desc ? "descending" : "ascending") : "none";
}

interface SortButtonProps<K extends string> {
  label: string;
  column: K;
  sort: SortState<K>;
  onSort: (key: K) => void;
}

/** The clickable label inside a column header. */
export function SortButton<K extends string>({ label, column, sort, onSort }: SortButtonProps<K>) {
  const arrow = sort.key === column ? (sort.desc ? " ▼" : " ▲") : "";
  return (
    <button className="link-button sort-button" data-testid={`sort-${column}`} onClick={() => onSort(column)}>
      {label}
      {arrow}
    </button>
  );
}
