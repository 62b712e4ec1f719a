// A labelled field with the API's message for it underneath (422 `fields`), and the sending
// of a form that fills those messages.
import { useState, type FormEvent, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from "react";
import { ApiError } from "./api/client";

export function Field(
  props: InputHTMLAttributes<HTMLInputElement> & {
    name: string;
    label: string;
    errors: Record<string, string>;
    hint?: ReactNode;
  },
) {
  const { name, label, errors, hint, ...input } = props;
  const message = errors[name];
  const described = [hint ? `${name}-hint` : "", message ? `${name}-error` : ""].filter(Boolean).join(" ");
  return (
    <div className="field">
      <label htmlFor={name}>{label}</label>
      <input id={name} name={name} aria-invalid={message ? true : undefined}
        aria-describedby={described || undefined} {...input} />
      {hint && <small id={`${name}-hint`}>{hint}</small>}
      {message && <p className="field-error" id={`${name}-error`}>{message}</p>}
    </div>
  );
}

/** Field's twin for a choice: a labelled select whose first option is `empty` (no choice),
 * then `options` (`{code, name}` rows as the API lists them, or a `{code: words}` table of
 * words.ts), with the API's message for it underneath when `errors` has one. */
export function Choice(
  props: SelectHTMLAttributes<HTMLSelectElement> & {
    name: string;
    label: string;
    empty: string;
    options: readonly { code: string; name: string }[] | Record<string, string> | null | undefined;
    errors?: Record<string, string>;
  },
) {
  const { name, label, empty, options, errors, ...select } = props;
  const message = errors?.[name];
  const rows = Array.isArray(options) ? options : Object.entries(options ?? {}).map(([code, name]) => ({ code, name }));
  return (
    <div className="field">
      <label htmlFor={name}>{label}</label>
      <select id={name} name={name} aria-invalid={message ? true : undefined}
        aria-describedby={message ? `${name}-error` : undefined} {...select}>
        <option value="">{empty}</option>
        {rows.map((row) => <option key={row.code} value={row.code}>{row.name}</option>)}
      </select>
      {message && <p className="field-error" id={`${name}-error`}>{message}</p>}
    </div>
  );
}

/** A button's action: busy while it runs, its failure told beside it. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [done, setDone] = useState<string | null>(null);
  const run = async (work: () => Promise<unknown>, success?: string) => {
    setBusy(true);
    setError(null);
    setFields({});
    setDone(null);
    try {
      await work();
      if (success) setDone(success);
      return true;
    } catch (reason) {
      if (reason instanceof ApiError && reason.status === 422) setFields(reason.fields);
      setError(reason);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, fields, setFields, done, run, setDone };
}

/** A form's sending, useAction's run behind a submit: `send(event, work)` keeps the browser
 * from loading a page, clears the last failure and the fields' messages, and runs `work`;
 * what it throws is kept in `error` (for ErrorNotice), a 422's messages per field in
 * `errors` (for Field). */
export function useSubmit() {
  const { error, fields, setFields, run } = useAction();
  const send = async (event: FormEvent, work: () => Promise<unknown>) => {
    event.preventDefault();
    await run(work);
  };
  return { error, errors: fields, setErrors: setFields, send };
}
