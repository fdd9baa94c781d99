// The timeline's find-in-trace state: the query (seeded from and mirrored to ?uiFind=, Jaeger
// UI's parameter), the matching span IDs and which match is current.
import { useDeferredValue, useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router-dom";
import type { TraceModel } from "../model";
import { findSpans } from "./search";

export interface TraceSearch {
  /** ?uiFind= as the page was opened with. */
  initialQuery: string;
  query: string;
  setQuery: (query: string) => void;
  /** The query the matches were computed for (lags `query` while typing fast). */
  activeQuery: string;
  matches: string[];
  matchSet: ReadonlySet<string>;
  /** Index into `matches`, or -1 before the user steps through them. */
  matchIndex: number;
  setMatchIndex: (index: number) => void;
}

export function useTraceSearch(model: TraceModel): TraceSearch {
  const [searchParams, setSearchParams] = useSearchParams();
  const [initialQuery] = useState(() => searchParams.get("uiFind") ?? "");
  const [query, setQuery] = useState(initialQuery);
  const activeQuery = useDeferredValue(query);
  const matches = useMemo(() => findSpans(model, activeQuery), [model, activeQuery]);
  const matchSet = useMemo(() => new Set(matches), [matches]);
  const [matchIndex, setMatchIndex] = useState(-1);
  const [matchesSeen, setMatchesSeen] = useState(matches);
  if (matchesSeen !== matches) {
    setMatchesSeen(matches);
    setMatchIndex(-1);
  }

  useEffect(() => {
    const value = activeQuery.trim();
    setSearchParams(
      (prev) => {
        if ((prev.get("uiFind") ?? "") === value) return prev;
        const next = new URLSearchParams(prev);
        if (value) next.set("uiFind", value);
        else next.delete("uiFind");
        return next;
      },
      { replace: true },
    );
  }, [activeQuery, setSearchParams]);

  return { initialQuery, query, setQuery, activeQuery, matches, matchSet, matchIndex, setMatchIndex };
}
