// A labelled field with the API's message for it underneath (422 `fields`).
import type { InputHTMLAttributes, ReactNode } from "react";

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
