// The filter box of the trace's list views (spans table, logs).

export function FilterBox({
  value,
  onChange,
  label,
  placeholder,
  testId,
}: {
  value: string;
  onChange: (value: string) => void;
  label: string;
  placeholder: string;
  testId: string;
}) {
  return (
    <input
      type="search"
      data-testid={testId}
      placeholder={placeholder}
      aria-label={label}
      value={value}
      onChange={(e) => onChange(e.target.value)}
      spellCheck={false}
    />
  );
}
