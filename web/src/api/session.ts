// Where the tokens live (web/README.md, "Tokens"): the access token only in this module's
// memory, never in localStorage; the refresh token in sessionStorage, so that a reload of
// the tab keeps the login and closing the tab ends it. The strict CSP (no inline or foreign
// script) is what keeps a script from reading either.
const REFRESH_KEY = "navigator.refresh";

let accessToken: string | null = null;
const listeners = new Set<() => void>();

export function getAccess(): string | null {
  return accessToken;
}

export function getRefresh(): string | null {
  return sessionStorage.getItem(REFRESH_KEY);
}

export function setTokens(access: string | null, refresh: string | null): void {
  accessToken = access;
  if (refresh) sessionStorage.setItem(REFRESH_KEY, refresh);
  else sessionStorage.removeItem(REFRESH_KEY);
  listeners.forEach((listener) => listener());
}

export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
