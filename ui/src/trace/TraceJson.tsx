// The raw trace as pretty-printed JSON. Very large traces show the first part until asked for
// the rest, since laying out tens of megabytes of text stalls the browser.
import { useMemo, useState } from "react";
import type { Trace } from "../types";

const PREVIEW_CHARS = 1_000_000;

export function TraceJson({ trace }: { trace: Trace }) {
  const text = useMemo(() => JSON.stringify(trace, null, 2), [trace]);
  const [full, setFull] = useState(false);
  const cut = !full && text.length > PREVIEW_CHARS;
  return (
    <div className="view-body">
      {cut && (
        <div className="view-toolbar">
          <span className="muted">
            Showing the first {PREVIEW_CHARS.toLocaleString()} of {text.length.toLocaleString()} characters.
          </span>
          <button onClick={() => setFull(true)}>Show all</button>
        </div>
      )}
      <pre className="trace-json" data-testid="trace-json">
        {cut ? `${text.slice(0, PREVIEW_CHARS)}\n…` : text}
      </pre>
    </div>
  );
}
