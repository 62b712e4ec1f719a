// A labelled field with the API's message for it underneath (422 `fields`), and the sending
// of a form that fills those messages.
import { useState, type FormEvent, type InputHTMLAttributes, type ReactNode } from "react";
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

/** A form's sending: `send(event, work)` keeps the browser from loading a page, clears the
 * last failure and the fields' messages, and runs `work`; what it throws is kept in `error`
 * (for ErrorNotice), a 422's messages per field in `errors` (for Field). */
export function useSubmit() {
  const [error, setError] = useState<unknown>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const send = async (event: FormEvent, work: () => Promise<unknown>) => {
    event.preventDefault();
    setError(null);
    setErrors({});
    try {
      await work();
    } catch (reason) {
      if (reason instanceof ApiError && reason.status === 422) setErrors(reason.fields);
      setError(reason);
    }
  };
  return { error, errors, setErrors, send };
}
