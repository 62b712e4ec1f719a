// What the consoles of providers and operators share: a role guard, a mutating call with
// its own Idempotency-Key, a countdown, a download that carries the token, a month picker.
import { useEffect, useState, type ReactNode } from "react";
import { ApiError } from "./api/client";
import { getAccess } from "./api/session";
import { idempotencyKey } from "./api/client";
import { useAction } from "./form";
import { navigate } from "./router";
import { explain, useRequireLogin, useSession } from "./state";

export const HOME: Record<string, string> = {
  parent: "/applications",
  provider: "/provider",
  municipal_operator: "/municipality",
  regional_operator: "/region",
};

/** The logged-in person if their role is `role`; anyone else is sent to their own home. */
export function useRole(role: string) {
  const user = useRequireLogin();
  const { ready } = useSession();
  useEffect(() => {
    if (ready && user && user.role !== role) navigate(HOME[user.role] ?? "/", true);
  }, [ready, user, role]);
  return user && user.role === role ? user : null;
}

export const key = () => ({ header: { "Idempotency-Key": idempotencyKey() } });

// a button's action is a form's sending without the form (form.tsx)
export { useAction };

export function Outcome({ action }: { action: ReturnType<typeof useAction> }) {
  return (
    <div aria-live="polite">
      {action.error ? <p className="notice error" role="alert">{explain(action.error)}</p> : null}
      {action.done && <p className="notice success">{action.done}</p>}
    </div>
  );
}

/** "осталось 2 дн. 5 ч" until `until`, refreshed every minute; "срок истёк" after it. */
export function Countdown({ until }: { until: string }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 60_000);
    return () => window.clearInterval(timer);
  }, []);
  const end = new Date(until.length === 10 ? `${until}T23:59:59` : until).getTime();
  const left = end - now;
  if (left <= 0) return <span className="late">срок истёк</span>;
  const hours = Math.floor(left / 3_600_000);
  const days = Math.floor(hours / 24);
  const text = days > 0 ? `${days} дн. ${hours % 24} ч` : `${hours} ч ${Math.floor((left % 3_600_000) / 60_000)} мин`;
  return <span className={days < 1 ? "late" : undefined}>осталось {text}</span>;
}

/** Downloads a file of the API with the access token (a plain link would carry none). */
export async function download(path: string, name: string): Promise<void> {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${getAccess() ?? ""}` } });
  if (!response.ok) throw new ApiError(response.status, null);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** "2026-12" for a date, and the month before. */
export function monthOf(day: Date): string {
  return `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, "0")}`;
}

export function previousMonth(value: string): string {
  const [year, number] = value.split("-").map(Number);
  return number === 1 ? `${year - 1}-12` : `${year}-${String(number - 1).padStart(2, "0")}`;
}

export function nextMonth(value: string): string {
  const [year, number] = value.split("-").map(Number);
  return number === 12 ? `${year + 1}-01` : `${year}-${String(number + 1).padStart(2, "0")}`;
}

/** Rubles as typed ("1 900,50") -> the API's "1900.50"; null when not a sum. */
export function rublesIn(value: string): string | null {
  const clean = value.replace(/[\s\u00a0₽]/g, "").replace(",", ".");
  if (!/^\d+(\.\d{1,2})?$/.test(clean)) return null;
  const [whole, fraction = ""] = clean.split(".");
  return `${BigInt(whole)}.${fraction.padEnd(2, "0")}`;
}

export function Section({ title, id, children }: { title: string; id: string; children: ReactNode }) {
  return (
    <section aria-labelledby={id}>
      <h1 id={id}>{title}</h1>
      {children}
    </section>
  );
}
