// The pages the account letters link to (services/notifications/triggers.py): the address
// confirmation (/verify-email?token=…) and the password reset (/password-reset, with and
// without ?token=…), plus the form that asks for a reset letter.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { api, ApiError, refreshSession, unwrap } from "../api/client";
import { Field, useSubmit } from "../form";
import { Link, loginHref, useLocation } from "../router";
import { ErrorNotice, useSession } from "../state";

/** A 422 `invalid_token`: the link was used, has expired or was cut short. */
function spentLink(error: unknown): boolean {
  return error instanceof ApiError && error.status === 422 && error.problem?.code === "invalid_token";
}

function ResendConfirmation() {
  const { user } = useSession();
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<unknown>(null);
  if (!user) {
    return (
      <p>
        <Link to={loginHref()}>Войдите</Link>, чтобы получить новое письмо со ссылкой.
      </p>
    );
  }
  if (user.email_verified) return <p>Ваш адрес уже подтверждён. <Link to="/">Перейти в каталог</Link></p>;
  const resend = async () => {
    setError(null);
    try {
      await unwrap(api.POST("/api/v1/auth/verify-email/resend"));
      setSent(true);
    } catch (reason) {
      setError(reason);
    }
  };
  return sent ? (
    <p className="notice success" role="status">
      Новое письмо отправлено на {user.email}. Ссылка в нём действует 72 часа.
    </p>
  ) : (
    <>
      <ErrorNotice error={error} />
      <button type="button" className="primary" onClick={resend}>Отправить письмо ещё раз</button>
    </>
  );
}

export function VerifyEmail() {
  const { query } = useLocation();
  const { reloadUser } = useSession();
  const token = query.get("token") ?? "";
  const [state, setState] = useState<"checking" | "done" | "failed">(token ? "checking" : "failed");
  const [error, setError] = useState<unknown>(null);
  const sent = useRef<string | null>(null);
  useEffect(() => {
    if (!token || sent.current === token) return; // a link works once: never POST it twice
    sent.current = token;
    unwrap(api.POST("/api/v1/auth/verify-email", { body: { token } }))
      .then(async () => {
        // the access token still says "not confirmed" until it is refreshed
        if (await refreshSession()) await reloadUser();
        setState("done");
      })
      .catch((reason) => {
        setError(reason);
        setState("failed");
      });
  }, [token, reloadUser]);
  return (
    <section className="narrow" aria-labelledby="verify-title">
      <h1 id="verify-title">Подтверждение адреса</h1>
      {state === "checking" && <p aria-busy="true">Проверяем ссылку…</p>}
      {state === "done" && (
        <>
          <p className="notice success" role="status">Адрес подтверждён.</p>
          <p>Теперь можно записывать детей на программы. <Link to="/">Перейти в каталог</Link></p>
        </>
      )}
      {state === "failed" &&
        (!token || spentLink(error) ? (
          <>
            <p className="notice error" role="alert">
              Ссылка недействительна: она уже использована, устарела (ссылка действует 72 часа) или
              скопирована не полностью.
            </p>
            <ResendConfirmation />
          </>
        ) : (
          <ErrorNotice error={error} />
        ))}
    </section>
  );
}

/** /password-reset: the request form; with ?token=… (the letter's link) the new password form. */
export function PasswordReset() {
  const { query } = useLocation();
  const token = query.get("token");
  return token ? <NewPassword token={token} /> : <ResetRequest />;
}

function ResetRequest() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const { error, errors, send } = useSubmit();
  const submit = (event: FormEvent) =>
    send(event, async () => {
      await unwrap(api.POST("/api/v1/auth/password-reset", { body: { email } }));
      setSent(true);
    });
  return (
    <section className="narrow" aria-labelledby="reset-title">
      <h1 id="reset-title">Восстановление пароля</h1>
      {sent ? (
        // the same words whether the account exists or not: the form tells no one who is registered
        <p className="notice success" role="status">
          Если учётная запись с адресом {email} существует, мы отправили на него письмо со ссылкой
          для нового пароля. Ссылка действует один час.
        </p>
      ) : (
        <form onSubmit={submit} noValidate>
          <p>Укажите адрес, с которым вы регистрировались: мы пришлём ссылку для нового пароля.</p>
          <Field name="email" label="Электронная почта" type="email" autoComplete="email" required
            value={email} onChange={(e) => setEmail(e.target.value)} errors={errors} />
          <ErrorNotice error={error} />
          <button type="submit" className="primary">Отправить ссылку</button>
        </form>
      )}
      <p><Link to="/login">Вернуться ко входу</Link></p>
    </section>
  );
}

function NewPassword({ token }: { token: string }) {
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const { error, errors, send } = useSubmit();
  const submit = (event: FormEvent) =>
    send(event, async () => {
      await unwrap(api.POST("/api/v1/auth/password-reset/confirm", { body: { token, password } }));
      setDone(true);
    });
  return (
    <section className="narrow" aria-labelledby="new-password-title">
      <h1 id="new-password-title">Смена пароля</h1>
      {done ? (
        <p className="notice success" role="status">
          Пароль изменён. Вход на других устройствах завершён. <Link to="/login">Войти</Link>
        </p>
      ) : (
        <form onSubmit={submit} noValidate>
          <Field name="password" label="Новый пароль" type="password" autoComplete="new-password" required
            value={password} onChange={(e) => setPassword(e.target.value)} errors={errors}
            hint="Не короче 10 символов" />
          {spentLink(error) ? (
            <p className="notice error" role="alert">
              Ссылка недействительна: она уже использована, устарела (ссылка действует один час) или
              скопирована не полностью. <Link to="/password-reset">Запросить новую</Link>
            </p>
          ) : (
            <ErrorNotice error={error} />
          )}
          <button type="submit" className="primary">Сохранить пароль</button>
        </form>
      )}
    </section>
  );
}
