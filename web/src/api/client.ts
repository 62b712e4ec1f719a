// The typed API client: paths, parameters and answers come from schema.d.ts, generated from
// the gateway's OpenAPI document (make web-client), so a changed route breaks `tsc`.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";
import { getAccess, getRefresh, setTokens } from "./session";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"] & { fields?: Record<string, string[] | string> };

/** An answer that is not a success, with what a person should be told. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public problem: Problem | null,
  ) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
  }

  /** The field messages of a 422, one string per field. */
  get fields(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, messages] of Object.entries(this.problem?.fields ?? {})) {
      out[name] = Array.isArray(messages) ? messages.join(" ") : String(messages);
    }
    return out;
  }
}

export const api = createClient<paths>({ baseUrl: "" });

let refreshing: Promise<boolean> | null = null;

/** One refresh at a time for every request that met a 401. */
export function refreshSession(): Promise<boolean> {
  const token = getRefresh();
  if (!token) return Promise.resolve(false);
  refreshing ??= fetch("/api/v1/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: token }),
  })
    .then(async (response) => {
      if (!response.ok) {
        if (response.status === 401) setTokens(null, null);
        return false;
      }
      const tokens = (await response.json()) as Schemas["Tokens"];
      setTokens(tokens.access_token, tokens.refresh_token);
      return true;
    })
    .catch(() => false)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const busy = { listeners: new Set<(on: boolean) => void>() };

// a copy of each request as sent, for a repeat after a refresh or a 503 (fetch uses up a body)
const copies = new WeakMap<Request, Request>();

const session: Middleware = {
  async onRequest({ request }) {
    const token = getAccess();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    copies.set(request, request.clone());
    return request;
  },
  async onResponse({ request, response }) {
    const retry = async () => {
      const again = (copies.get(request) ?? request).clone();
      const token = getAccess();
      if (token) again.headers.set("Authorization", `Bearer ${token}`);
      return fetch(again);
    };
    let answer = response;
    // an expired access token: refresh once and repeat
    if (answer.status === 401 && getRefresh() && !request.url.includes("/auth/")) {
      if (await refreshSession()) answer = await retry();
    }
    // the service is busy: a read is asked again, twice, with a pause
    if (answer.status === 503 && request.method === "GET") {
      for (let attempt = 1; attempt <= 2 && answer.status === 503; attempt++) {
        busy.listeners.forEach((listener) => listener(true));
        await sleep(1000 * attempt);
        answer = await retry();
      }
      busy.listeners.forEach((listener) => listener(false));
    }
    return answer;
  },
};
api.use(session);

/** The answer's data, or ApiError with the problem the gateway sent. */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  throw new ApiError(response.status, (error as Problem) ?? null);
}

/** A new key per attempt of a mutating request, so that a repeat is not applied twice. */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}
