// The detail of one span, shown inline under its timeline row: times, tags, process, logs,
// references (with jumps to the referenced span) and warnings.
import { useState, type ReactNode } from "react";
import { Link } from "react-router-dom";
import { formatDuration, formatTimestamp } from "../format";
import type { SpanNode, TraceModel } from "../model";
import { useSettings } from "../settings";
import type { Reference } from "../types";
import { colorOf } from "./colors";
import { KeyValueTable } from "./KeyValueTable";
import { logTitle } from "./logs";

/** This page's URL pointing at one span, as Jaeger UI's links do (?uiFind=spanID). */
export function spanLink(spanId: string): string {
  const url = new URL(window.location.href);
  url.search = "";
  url.searchParams.set("uiFind", spanId);
  return url.toString();
}

function CopyLinkButton({ spanId }: { spanId: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    const link = spanLink(spanId);
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      // no clipboard (an insecure origin): let the user copy it by hand
      window.prompt("Link to this span:", link);
    }
  };
  return (
    <button data-testid="copy-span-link" onClick={copy} title="Copy a link to this span">
      {copied ? "Copied ✓" : "Copy link"}
    </button>
  );
}

function ReferenceItem({ reference, model, onJump }: { reference: Reference; model: TraceModel; onJump: (id: string) => void }) {
  const target = reference.traceID === model.traceID ? model.byId.get(reference.spanID) : undefined;
  return (
    <li data-testid="span-reference">
      <span className="ref-type">{reference.refType}</span>{" "}
      {target ? (
        <button className="link-button" onClick={() => onJump(target.id)}>
          {target.service}: {target.span.operationName} <span className="mono muted">{target.id}</span>
        </button>
      ) : reference.traceID === model.traceID ? (
        <span className="mono muted" title="This span is not in the trace">
          {reference.spanID} (missing)
        </span>
      ) : (
        <Link to={`/trace/${reference.traceID}?uiFind=${reference.spanID}`}>
          span <span className="mono">{reference.spanID}</span> in trace <span className="mono">{reference.traceID}</span>
        </Link>
      )}
    </li>
  );
}

function Section({ title, count, children }: { title: string; count?: number; children: ReactNode }) {
  return (
    <details className="detail-section" open>
      <summary>
        {title}
        {count !== undefined && <span className="muted"> ({count})</span>}
      </summary>
      {children}
    </details>
  );
}

interface SpanDetailProps {
  node: SpanNode;
  model: TraceModel;
  /** Scrolls to another span of this trace and opens it. */
  onJump: (spanId: string) => void;
}

export function SpanDetail({ node, model, onJump }: SpanDetailProps) {
  const { timeZone } = useSettings();
  const { span } = node;
  const logs = span.logs ?? [];
  const references = span.references ?? [];
  const warnings = span.warnings ?? [];
  return (
    <div className="span-detail" data-testid="span-detail" style={{ borderLeftColor: colorOf(node.service) }}>
      <div className="detail-head">
        <h3>
          <span style={{ color: colorOf(node.service) }}>{node.service}</span> {span.operationName}
          {node.error && <span className="error-badge">error</span>}
        </h3>
        <CopyLinkButton spanId={node.id} />
      </div>
      <dl className="detail-facts">
        <dt>Start</dt>
        <dd>
          +{formatDuration(node.offset)} <span className="muted">({formatTimestamp(span.startTime, timeZone)})</span>
        </dd>
        <dt>Duration</dt>
        <dd>{formatDuration(span.duration)}</dd>
        <dt>Self time</dt>
        <dd>{formatDuration(node.selfTime)}</dd>
        <dt>Span ID</dt>
        <dd className="mono">{node.id}</dd>
      </dl>
      <Section title="Tags" count={span.tags.length}>
        <KeyValueTable items={span.tags} filterable testId="span-tags" />
      </Section>
      <Section title="Process" count={node.process.tags.length}>
        <KeyValueTable items={node.process.tags} testId="span-process" />
      </Section>
      {logs.length > 0 && (
        <Section title="Logs / events" count={logs.length}>
          <ol className="detail-logs" data-testid="span-logs">
            {logs.map((log, i) => (
              <li key={i} data-testid="log-entry">
                <div className="log-head">
                  <span className="mono">+{formatDuration(log.timestamp - model.start)}</span>
                  <span className="muted"> (+{formatDuration(log.timestamp - span.startTime)} in span)</span>{" "}
                  <strong>{logTitle(log)}</strong>
                </div>
                <KeyValueTable items={log.fields} />
              </li>
            ))}
          </ol>
        </Section>
      )}
      {references.length > 0 && (
        <Section title="References & links" count={references.length}>
          <ul className="detail-refs">
            {references.map((r, i) => (
              <ReferenceItem key={i} reference={r} model={model} onJump={onJump} />
            ))}
          </ul>
        </Section>
      )}
      {warnings.length > 0 && (
        <Section title="Warnings" count={warnings.length}>
          <ul className="detail-warnings" data-testid="span-warnings">
            {warnings.map((w, i) => (
              <li key={i}>{w}</li>
            ))}
          </ul>
        </Section>
      )}
    </div>
  );
}
