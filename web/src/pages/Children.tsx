import { useEffect, useState, type FormEvent } from "react";
import { api, idempotencyKey, unwrap, type Schemas } from "../api/client";
import { date } from "../format";
import { Choice, Field, useSubmit } from "../form";
import { Link, navigate } from "../router";
import { ErrorNotice, useLoad, useRequireLogin } from "../state";

type Child = Schemas["Child"];
const EMPTY = {
  last_name: "", first_name: "", middle_name: "", birth_date: "", sex: "female",
  snils: "", birth_certificate_series: "", birth_certificate_number: "", municipality_code: "",
};

export function Children() {
  const user = useRequireLogin();
  const list = useLoad(async () => (user ? (await unwrap(api.GET("/api/v1/children"))).items : []), `c-${user?.id}`);
  return (
    <section aria-labelledby="children-title">
      <h1 id="children-title">Мои дети</h1>
      <ErrorNotice error={list.error} retry={list.reload} />
      <ul className="results">
        {list.data?.map((child) => (
          <li key={child.id} className="card">
            <h2>{child.last_name} {child.first_name} {child.middle_name}</h2>
            <p>Дата рождения: {date(child.birth_date)}; СНИЛС {child.snils}</p>
            <p>{child.verified ? "Данные подтверждены" : "Данные ещё не подтверждены организацией"}</p>
            <Link to={`/children/${child.id}`}>Изменить данные {child.first_name}</Link>
          </li>
        ))}
      </ul>
      {list.data?.length === 0 && <p>Вы ещё не добавили детей.</p>}
      <p><Link to="/children/new" className="button primary">Добавить ребёнка</Link></p>
    </section>
  );
}

export function ChildForm({ id }: { id: number | null }) {
  const user = useRequireLogin();
  const places = useLoad(async () => (await unwrap(api.GET("/api/v1/municipalities"))).items, "places");
  const existing = useLoad(
    async () =>
      id && user
        ? unwrap(api.GET("/api/v1/children/{child_id}", { params: { path: { child_id: id } } }))
        : null,
    `child-${id}-${user?.id}`,
  );
  const [form, setForm] = useState<Record<string, string>>(EMPTY);
  const { error, errors, send } = useSubmit();
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    const child = existing.data as Child | null;
    if (child) {
      setForm(Object.fromEntries(Object.keys(EMPTY).map((k) => [k, String(child[k as keyof Child] ?? "")])));
    }
  }, [existing.data]);
  useEffect(() => {
    if (!id && user?.municipality_code) setForm((f) => ({ ...f, municipality_code: f.municipality_code || user.municipality_code! }));
  }, [id, user]);
  const set = (name: string) => (e: { target: { value: string } }) => setForm((old) => ({ ...old, [name]: e.target.value }));
  const submit = (event: FormEvent) =>
    send(event, async () => {
      setSaved(false);
      const body = { ...form, middle_name: form.middle_name || undefined } as Schemas["ChildCreate"];
      if (id) {
        await unwrap(
          api.PATCH("/api/v1/children/{child_id}", {
            params: { path: { child_id: id }, header: { "Idempotency-Key": idempotencyKey() } },
            body,
          }),
        );
        setSaved(true);
      } else {
        const child = await unwrap(
          api.POST("/api/v1/children", { body, params: { header: { "Idempotency-Key": idempotencyKey() } } }),
        );
        // the certificate comes with the child (the parent may also ask for it on "Сертификаты")
        await api.POST("/api/v1/children/{child_id}/certificate", {
          params: { path: { child_id: child.id }, header: { "Idempotency-Key": idempotencyKey() } },
        });
        navigate("/children");
      }
    });
  const props = (name: string) => ({ name, value: form[name] ?? "", onChange: set(name), errors });
  return (
    <section className="narrow" aria-labelledby="child-title">
      <h1 id="child-title">{id ? "Данные ребёнка" : "Добавить ребёнка"}</h1>
      <ErrorNotice error={existing.error} />
      <form onSubmit={submit} noValidate>
        <Field label="Фамилия" required autoComplete="off" {...props("last_name")} />
        <Field label="Имя" required autoComplete="off" {...props("first_name")} />
        <Field label="Отчество (если есть)" autoComplete="off" {...props("middle_name")} />
        <Field label="Дата рождения" type="date" required {...props("birth_date")} />
        <div className="field">
          <label htmlFor="sex">Пол</label>
          <select id="sex" value={form.sex} onChange={set("sex")}>
            <option value="female">Женский</option>
            <option value="male">Мужской</option>
          </select>
          {errors.sex && <p className="field-error">{errors.sex}</p>}
        </div>
        <Field label="СНИЛС" required inputMode="numeric" placeholder="123-456-789 01" {...props("snils")} />
        <Field label="Серия свидетельства о рождении" required placeholder="IV-БА" {...props("birth_certificate_series")} />
        <Field label="Номер свидетельства о рождении" required inputMode="numeric" placeholder="123456" {...props("birth_certificate_number")} />
        <Choice name="municipality_code" label="Где живёт ребёнок" empty="Выберите…" options={places.data}
          value={form.municipality_code} onChange={set("municipality_code")} errors={errors} />
        <ErrorNotice error={error} />
        {saved && <p className="notice success" role="status">Сохранено.</p>}
        <button type="submit" className="primary">{id ? "Сохранить" : "Добавить"}</button>
      </form>
    </section>
  );
}
