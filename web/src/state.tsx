// The logged-in person and the shared loading/error handling of every page.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, ApiError, busy, refreshSession, unwrap, type Schemas } from "./api/client";
import { getAccess, getRefresh, onSessionChange, setTokens } from "./api/session";
import { loginHref, navigate } from "./router";

type User = Schemas["User"];
type SessionState = { user: User | null; ready: boolean; reloadUser: () => Promise<void> };

const SessionContext = createContext<SessionState>({
  user: null,
  ready: false,
  reloadUser: async () => {},
});

export function SessionProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null);
  const [ready, setReady] = useState(false);
  const reloadUser = useCallback(async () => {
    if (!getAccess() && getRefresh()) await refreshSession();
    if (!getAccess()) {
      setUser(null);
      return;
    }
    try {
      setUser(await unwrap(api.GET("/api/v1/me")));
    } catch {
      setUser(null);
    }
  }, []);
  useEffect(() => {
    reloadUser().finally(() => setReady(true));
    return onSessionChange(() => {
      if (!getAccess()) setUser(null);
    });
  }, [reloadUser]);
  return (
    <SessionContext.Provider value={{ user, ready, reloadUser }}>{children}</SessionContext.Provider>
  );
}

export function useSession(): SessionState {
  return useContext(SessionContext);
}

export async function logout(): Promise<void> {
  const refresh = getRefresh();
  if (refresh) {
    await api.POST("/api/v1/auth/logout", { body: { refresh_token: refresh } }).catch(() => {});
  }
  setTokens(null, null);
}

/** Data for a page: loads on mount and when `key` changes; a 401 sends to login and back. */
export function useLoad<T>(load: () => Promise<T>, key: string) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(null);
    load()
      .then((value) => live && setData(value))
      .catch((reason) => {
        if (!live) return;
        if (reason instanceof ApiError && reason.status === 401) navigate(loginHref(), true);
        else setError(reason);
      })
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, round]);
  return { data, error, loading, reload: () => setRound((n) => n + 1), setData };
}

/** A page only for the logged in: sends to login (and back) otherwise. */
export function useRequireLogin(): User | null {
  const { user, ready } = useSession();
  useEffect(() => {
    if (ready && !user) navigate(loginHref(), true);
  }, [ready, user]);
  return user;
}

/** What to tell a person about a failure, and what to do. */
export function explain(error: unknown): string {
  if (!(error instanceof ApiError)) {
    return navigator.onLine
      ? "Не удалось связаться с сервером. Проверьте подключение и попробуйте ещё раз."
      : "Нет подключения к интернету. Когда связь появится, попробуйте ещё раз.";
  }
  const detail = error.problem?.detail || error.problem?.title || "";
  switch (error.status) {
    case 401:
      return "Войдите, чтобы продолжить.";
    case 403:
      return "Это действие вам недоступно.";
    case 404:
      return "Не найдено: возможно, запись удалена или принадлежит другому пользователю.";
    case 409:
      return `Данные успели измениться (${detail}). Обновите страницу и попробуйте снова.`;
    case 422:
      return Object.keys(error.fields).length
        ? "Проверьте поля, отмеченные ниже."
        : `Проверьте введённые данные: ${detail}`;
    case 429: {
      const seconds = error.problem?.retry_after;
      return `Слишком много попыток подряд. Подождите${seconds ? ` ${seconds} с` : " немного"} и повторите.`;
    }
    case 503:
      return "Сервис сейчас перегружен. Мы уже повторили запрос; попробуйте ещё раз через минуту.";
    default:
      return `Что-то пошло не так (${error.status}). Попробуйте позже.`;
  }
}

export function ErrorNotice({ error, retry }: { error: unknown; retry?: () => void }) {
  if (!error) return null;
  return (
    <div className="notice error" role="alert">
      <p>{explain(error)}</p>
      {retry && (
        <button type="button" onClick={retry}>
          Повторить
        </button>
      )}
    </div>
  );
}

/** "Нет соединения" while the browser is offline; "повторяем" while a 503 is retried. */
export function ConnectionNotice() {
  const [online, setOnline] = useState(navigator.onLine);
  const [retrying, setRetrying] = useState(false);
  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    window.addEventListener("online", on);
    window.addEventListener("offline", off);
    busy.listeners.add(setRetrying);
    return () => {
      window.removeEventListener("online", on);
      window.removeEventListener("offline", off);
      busy.listeners.delete(setRetrying);
    };
  }, []);
  return (
    <div aria-live="polite">
      {!online && (
        <p className="notice offline">Нет подключения к интернету. Данные могут быть устаревшими.</p>
      )}
      {retrying && <p className="notice">Сервис занят, повторяем запрос…</p>}
    </div>
  );
}
