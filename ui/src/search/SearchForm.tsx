// The search sidebar's form. It starts from the URL's parameters and, on submit, hands back
// the parameters for the new URL; validation errors show next to their fields.
import { useEffect, useId, useState, type FormEvent, type InputHTMLAttributes, type ReactNode } from "react";
import { api } from "../api";
import { useSettings } from "../settings";
import { readStored, writeStored } from "../storage";
import { formToUrl, LOOKBACKS, parseLogfmt, type FormErrors, type SearchForm as Form } from "./query";

const LAST_SERVICE = "spoor.lastService";

function Field({ label, error, children, id }: { label: string; error?: string; children: ReactNode; id: string }) {
  return (
    <div className={`search-field${error ? " invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children}
      {error && (
        <span className="search-field-error" id={`${id}-error`} role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

export function SearchForm({
  initial,
  services,
  servicesError,
  onSubmit,
}: {
  initial: Form;
  services: string[];
  servicesError: string | null;
  onSubmit: (params: URLSearchParams) => void;
}) {
  const { timeZone } = useSettings();
  const id = useId();
  const [form, setForm] = useState<Form>(initial);
  const [errors, setErrors] = useState<FormErrors>({});
  const [operations, setOperations] = useState<string[]>([]);
  const set = <K extends keyof Form>(key: K, value: Form[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    setErrors((e) => ({ ...e, [key]: undefined }));
  };

  // Preselect a service when the URL names none: the last one searched, else the first.
  useEffect(() => {
    if (form.service || services.length === 0) return;
    const last = readStored(LAST_SERVICE);
    setForm((f) => ({ ...f, service: last && services.includes(last) ? last : services[0] }));
  }, [services, form.service]);

  useEffect(() => {
    setOperations([]);
    if (!form.service) return;
    const abort = new AbortController();
    api
      .operations(form.service, abort.signal)
      .then((ops) => setOperations([...ops].sort()))
      .catch(() => {
        // no operation list: the select still offers "all" and the URL's operation
      });
    return () => abort.abort();
  }, [form.service]);

  // Tags are checked as they are typed, the rest on submit.
  let tagsError = errors.tags;
  try {
    parseLogfmt(form.tags);
  } catch (e) {
    tagsError = (e as Error).message;
  }

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const result = formToUrl(form, timeZone);
    if ("errors" in result) {
      setErrors(result.errors);
      return;
    }
    writeStored(LAST_SERVICE, form.service);
    onSubmit(result.params);
  };

  const serviceOptions = form.service && !services.includes(form.service) ? [form.service, ...services] : services;
  const operationOptions =
    form.operation && !operations.includes(form.operation) ? [form.operation, ...operations] : operations;
  const lookbacks = LOOKBACKS.some((l) => l.value === form.lookback)
    ? LOOKBACKS
    : [{ value: form.lookback, label: `Last ${form.lookback}` }, ...LOOKBACKS];
  const f = (name: string) => `${id}-${name}`;
  const describedBy = (name: keyof Form) => (errors[name] ? `${f(name)}-error` : undefined);
  /** An input bound to one field of the form, with its label and error. */
  const input = (name: keyof Form, label: string, testId: string, props: InputHTMLAttributes<HTMLInputElement>) => (
    <Field label={label} id={f(name)} error={errors[name]}>
      <input
        id={f(name)}
        data-testid={testId}
        value={form[name]}
        onChange={(e) => set(name, e.target.value)}
        aria-invalid={!!errors[name]}
        aria-describedby={describedBy(name)}
        {...props}
      />
    </Field>
  );
  const zone = timeZone === "utc" ? "UTC" : "local time";

  return (
    <form className="search-form" onSubmit={submit} noValidate aria-label="Find traces">
      <Field label="Service" id={f("service")} error={errors.service ?? servicesError ?? undefined}>
        <select
          id={f("service")}
          data-testid="search-service"
          value={form.service}
          onChange={(e) => setForm((prev) => ({ ...prev, service: e.target.value, operation: "" }))}
          aria-describedby={describedBy("service")}
        >
          {!form.service && <option value="">Choose a service…</option>}
          {serviceOptions.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Operation" id={f("operation")}>
        <select id={f("operation")} data-testid="search-operation" value={form.operation} onChange={(e) => set("operation", e.target.value)}>
          <option value="">all</option>
          {operationOptions.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Tags" id={f("tags")} error={tagsError}>
        <input
          id={f("tags")}
          data-testid="search-tags"
          className="mono"
          placeholder='http.status_code=500 error=true msg="a b"'
          value={form.tags}
          onChange={(e) => set("tags", e.target.value)}
          spellCheck={false}
          aria-invalid={!!tagsError}
          aria-describedby={tagsError ? `${f("tags")}-error` : `${f("tags")}-hint`}
        />
        {!tagsError && (
          <span className="search-hint" id={`${f("tags")}-hint`}>
            logfmt: key=value, quote values with spaces
          </span>
        )}
      </Field>
      <Field label="Lookback" id={f("lookback")} error={errors.lookback}>
        <select id={f("lookback")} data-testid="search-lookback" value={form.lookback} onChange={(e) => set("lookback", e.target.value)}>
          {lookbacks.map((l) => (
            <option key={l.value} value={l.value}>
              {l.label}
            </option>
          ))}
        </select>
      </Field>
      {form.lookback === "custom" && (
        <>
          {input("start", `Start (${zone})`, "search-start", { type: "datetime-local" })}
          {input("end", `End (${zone}; empty: now)`, "search-end", { type: "datetime-local" })}
        </>
      )}
      <div className="search-row">
        {input("minDuration", "Min duration", "search-min-duration", { placeholder: "e.g. 10ms" })}
        {input("maxDuration", "Max duration", "search-max-duration", { placeholder: "e.g. 1.5s" })}
      </div>
      {input("limit", "Limit results", "search-limit", { type: "number", min: 1 })}
      <button type="submit" className="primary" data-testid="search-submit" disabled={!!tagsError}>
        Find traces
      </button>
    </form>
  );
}
