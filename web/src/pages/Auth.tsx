import { useState, type FormEvent } from "react";
import { api, ApiError, unwrap } from "../api/client";
import { setTokens } from "../api/session";
import { HOME } from "../console";
import { Field, useSubmit } from "../form";
import { Link, navigate, useLocation } from "../router";
import { ErrorNotice, useSession } from "../state";

function safeNext(next: string | null, role: string): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : HOME[role] ?? "/applications";
}

async function logIn(email: string, password: string) {
  const tokens = await unwrap(api.POST("/api/v1/auth/login", { body: { email, password } }));
  setTokens(tokens.access_token, tokens.refresh_token);
}

export function Login() {
  const { query } = useLocation();
  const { reloadUser } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { error, errors, send } = useSubmit();
  const submit = (event: FormEvent) =>
    send(event, async () => {
      await logIn(email, password);
      await reloadUser();
      const me = await unwrap(api.GET("/api/v1/me"));
      navigate(safeNext(query.get("next"), me.role), true);
    });
  const wrong = error instanceof ApiError && error.status === 401;
  return (
    <section className="narrow" aria-labelledby="login-title">
      <h1 id="login-title">Вход</h1>
      <form onSubmit={submit} noValidate>
        <Field name="email" label="Электронная почта" type="email" autoComplete="email" required
          value={email} onChange={(e) => setEmail(e.target.value)} errors={errors} />
        <Field name="password" label="Пароль" type="password" autoComplete="current-password" required
          value={password} onChange={(e) => setPassword(e.target.value)} errors={errors} />
        {wrong ? (
          <p className="notice error" role="alert">Неверная почта или пароль.</p>
        ) : (
          <ErrorNotice error={error} />
        )}
        <button type="submit" className="primary">Войти</button>
      </form>
      <p><Link to="/password-reset">Забыли пароль?</Link></p>
      <p>Нет учётной записи? <Link to="/register">Зарегистрируйтесь</Link></p>
    </section>
  );
}

export function Register() {
  const { reloadUser } = useSession();
  const [form, setForm] = useState({ email: "", password: "", full_name: "", phone: "" });
  const [consent, setConsent] = useState(false);
  const { error, errors, setErrors, send } = useSubmit();
  const set = (name: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm((old) => ({ ...old, [name]: e.target.value }));
  const submit = (event: FormEvent) =>
    send(event, async () => {
      if (!consent) {
        setErrors({ consent_personal_data: "Без согласия на обработку персональных данных регистрация невозможна." });
        return;
      }
      await unwrap(
        api.POST("/api/v1/auth/register", {
          body: { ...form, phone: form.phone || undefined, consent_personal_data: true },
        }),
      );
      await logIn(form.email, form.password);
      await reloadUser();
      navigate("/children/new", true);
    });
  const taken = error instanceof ApiError && error.status === 409;
  return (
    <section className="narrow" aria-labelledby="register-title">
      <h1 id="register-title">Регистрация родителя</h1>
      <form onSubmit={submit} noValidate>
        <Field name="full_name" label="Фамилия, имя, отчество" autoComplete="name" required
          value={form.full_name} onChange={set("full_name")} errors={errors} />
        <Field name="email" label="Электронная почта" type="email" autoComplete="email" required
          value={form.email} onChange={set("email")} errors={errors} />
        <Field name="phone" label="Телефон" type="tel" autoComplete="tel" placeholder="+7 900 000-00-00"
          value={form.phone} onChange={set("phone")} errors={errors} />
        <Field name="password" label="Пароль" type="password" autoComplete="new-password" required
          value={form.password} onChange={set("password")} errors={errors}
          hint="Не короче 10 символов" />
        <div className="field">
          <label className="consent">
            <input type="checkbox" id="consent_personal_data" checked={consent}
              aria-describedby={errors.consent_personal_data ? "consent-error" : undefined}
              onChange={(e) => setConsent(e.target.checked)} />
            Я согласен(на) на обработку моих персональных данных и данных моих детей
          </label>
          {errors.consent_personal_data && (
            <p className="field-error" id="consent-error">{errors.consent_personal_data}</p>
          )}
        </div>
        {taken ? (
          <p className="notice error" role="alert">
            Эта почта уже зарегистрирована. <Link to="/login">Войдите</Link> или укажите другую.
          </p>
        ) : (
          <ErrorNotice error={error} />
        )}
        <button type="submit" className="primary">Зарегистрироваться</button>
      </form>
    </section>
  );
}
