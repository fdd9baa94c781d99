// Time ticks for the timeline's zoom window: labels in the header and faint grid lines behind
// the bars.
import { formatDuration } from "../format";
import { niceTicks } from "./layout";

/** Ticks further right than this (%) draw no label, which would be cut off. */
const LAST_LABEL_AT = 94;

interface TicksProps {
  /** The window, in µs relative to the trace start. */
  start: number;
  end: number;
  /** Width of the bar area in pixels, to choose how many ticks fit. */
  width: number;
}

function ticksFor({ start, end, width }: TicksProps): { at: number; left: number }[] {
  const span = Math.max(end - start, 1);
  return niceTicks(start, end, Math.max(2, Math.floor(width / 90))).map((at) => ({ at, left: ((at - start) / span) * 100 }));
}

export function TimeRuler(props: TicksProps) {
  return (
    <div className="ruler" data-testid="time-ruler">
      {ticksFor(props).map(({ at, left }) => (
        <span key={at} className="ruler-tick" style={{ left: `${left}%` }}>
          {left < LAST_LABEL_AT && formatDuration(at)}
        </span>
      ))}
    </div>
  );
}

export function GridLines(props: TicksProps) {
  return (
    <div className="gridlines" aria-hidden>
      {ticksFor(props).map(({ at, left }) => (
        <span key={at} style={{ left: `${left}%` }} />
      ))}
    </div>
  );
}
