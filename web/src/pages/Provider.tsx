// The provider's console: self-registration, the organization, programs and groups, the
// applications inbox, the attendance journal, invoices.
import { useState, type FormEvent } from "react";
import { api, unwrap, type Schemas } from "../api/client";
import { setTokens } from "../api/session";
import { Countdown, key, monthOf, Outcome, previousMonth, rublesIn, useAction, useRole } from "../console";
import { date, money, month as monthName, WEEKDAYS } from "../format";
import { Choice, Field } from "../form";
import { Link, navigate, useLocation } from "../router";
import { ErrorNotice, useLoad, useSession } from "../state";
import { FORMAT, LEVEL, STATUS } from "../words";
import { InvoiceList } from "./Invoices";

type Program = Schemas["Program"];
type Group = Schemas["Group"];
type Enrollment = Schemas["Enrollment"];

export const ORGANIZATION_STATUS: Record<string, string> = {
  pending: "Ждёт подтверждения регионального оператора",
  active: "Действует",
  suspended: "Приостановлена",
};
export const PROGRAM_STATUS: Record<string, string> = {
  draft: "Черновик",
  on_review: "На проверке",
  published: "Опубликована",
  archived: "В архиве",
};
export const DIRECTION: Record<string, string> = {
  technical: "Техническая",
  natural_science: "Естественнонаучная",
  sports: "Физкультурно-спортивная",
  arts: "Художественная",
  tourism: "Туристско-краеведческая",
  social_humanitarian: "Социально-гуманитарная",
};
export const REGISTRY: Record<string, string> = {
  certified: "Сертифицированные (оплата сертификатом)",
  significant: "Значимые",
  paid: "Платные",
  pre_professional: "Предпрофессиональные",
};

function useMunicipalities() {
  return useLoad(async () => (await unwrap(api.GET("/api/v1/municipalities"))).items, "municipalities");
}

// --- self-registration ------------------------------------------------------------------

export function ProviderRegister() {
  const { reloadUser } = useSession();
  const municipalities = useMunicipalities();
  const action = useAction();
  const [form, setForm] = useState({
    full_name: "", email: "", password: "", phone: "", organization_name: "", inn: "",
    municipality_code: "", address: "", organization_phone: "", organization_email: "",
  });
  const [consent, setConsent] = useState(false);
  const set = (name: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm({ ...form, [name]: e.target.value });
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const ok = await action.run(async () => {
      await unwrap(
        api.POST("/api/v1/auth/register-provider", {
          params: key(),
          body: {
            ...form,
            phone: form.phone || null,
            organization_phone: form.organization_phone || null,
            organization_email: form.organization_email || undefined,
            consent_personal_data: consent as true,
          },
        }),
      );
      const tokens = await unwrap(
        api.POST("/api/v1/auth/login", { body: { email: form.email, password: form.password } }),
      );
      setTokens(tokens.access_token, tokens.refresh_token);
      await reloadUser();
    });
    if (ok) navigate("/provider?registered=1");
  };
  const errors = action.fields;
  return (
    <section className="narrow" aria-labelledby="preg-title">
      <h1 id="preg-title">Регистрация организации</h1>
      <p>Организация появится в навигаторе после проверки региональным оператором.</p>
      <form onSubmit={submit} noValidate>
        <fieldset className="plain">
          <legend>Организация</legend>
          <Field name="organization_name" label="Полное наименование" value={form.organization_name}
            onChange={set("organization_name")} errors={errors} required />
          <Field name="inn" label="ИНН" inputMode="numeric" value={form.inn} onChange={set("inn")}
            errors={errors} hint="10 цифр (12 — для индивидуального предпринимателя)" required />
          <Choice name="municipality_code" label="Муниципалитет" empty="Выберите…" options={municipalities.data}
            value={form.municipality_code} onChange={set("municipality_code")} errors={errors} />
          <Field name="address" label="Адрес" value={form.address} onChange={set("address")} errors={errors} required />
          <Field name="organization_phone" label="Телефон организации" type="tel" value={form.organization_phone}
            onChange={set("organization_phone")} errors={errors} />
          <Field name="organization_email" label="Почта организации" type="email" value={form.organization_email}
            onChange={set("organization_email")} errors={errors} />
        </fieldset>
        <fieldset className="plain">
          <legend>Первый сотрудник (вы)</legend>
          <Field name="full_name" label="Фамилия, имя, отчество" value={form.full_name} onChange={set("full_name")}
            errors={errors} autoComplete="name" required />
          <Field name="email" label="Электронная почта для входа" type="email" value={form.email} onChange={set("email")}
            errors={errors} autoComplete="email" required />
          <Field name="password" label="Пароль" type="password" value={form.password} onChange={set("password")}
            errors={errors} autoComplete="new-password" hint="Не короче 10 символов" required />
          <Field name="phone" label="Ваш телефон" type="tel" value={form.phone} onChange={set("phone")} errors={errors} />
        </fieldset>
        <label className="consent">
          <input type="checkbox" checked={consent} onChange={(e) => setConsent(e.target.checked)}
            aria-describedby={errors.consent_personal_data ? "consent-error" : undefined} />
          Я согласен(на) на обработку персональных данных
        </label>
        {errors.consent_personal_data && <p className="field-error" id="consent-error">{errors.consent_personal_data}</p>}
        <Outcome action={action} />
        <button type="submit" className="primary" disabled={action.busy}>Зарегистрировать организацию</button>
      </form>
    </section>
  );
}

// --- the organization -------------------------------------------------------------------

function useOrganization(id: number | null | undefined) {
  return useLoad(async () => {
    if (!id) return null;
    return unwrap(api.GET("/api/v1/organizations/{organization_id}", { params: { path: { organization_id: id } } }));
  }, `org-${id}`);
}

export function ProviderHome() {
  const user = useRole("provider");
  const { query } = useLocation();
  const organization = useOrganization(user?.organization_id);
  const action = useAction();
  const [edit, setEdit] = useState<Record<string, string> | null>(null);
  const org = organization.data;
  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (!org || !edit) return;
    await action.run(async () => {
      organization.setData(
        await unwrap(
          api.PATCH("/api/v1/organizations/{organization_id}", {
            params: { path: { organization_id: org.id }, ...key() },
            body: { name: edit.name, address: edit.address, phone: edit.phone || null, email: edit.email || null },
          }),
        ),
      );
      setEdit(null);
    }, "Сохранено.");
  };
  return (
    <section aria-labelledby="org-title">
      <h1 id="org-title">Организация</h1>
      {query.get("registered") && (
        <p className="notice success">Заявка на регистрацию отправлена. На вашу почту пришло письмо для подтверждения адреса.</p>
      )}
      <ErrorNotice error={organization.error} retry={organization.reload} />
      {org && (
        <article className="card" aria-label="Профиль организации">
          <h2>{org.name}</h2>
          <p className={`status status-${org.status}`}>{ORGANIZATION_STATUS[org.status] ?? org.status}</p>
          {edit ? (
            <form onSubmit={save} noValidate>
              <Field name="name" label="Наименование" value={edit.name} errors={action.fields}
                onChange={(e) => setEdit({ ...edit, name: e.target.value })} />
              <Field name="address" label="Адрес" value={edit.address} errors={action.fields}
                onChange={(e) => setEdit({ ...edit, address: e.target.value })} />
              <Field name="phone" label="Телефон" value={edit.phone} errors={action.fields}
                onChange={(e) => setEdit({ ...edit, phone: e.target.value })} />
              <Field name="email" label="Почта" value={edit.email} errors={action.fields}
                onChange={(e) => setEdit({ ...edit, email: e.target.value })} />
              <button type="submit" className="primary" disabled={action.busy}>Сохранить</button>{" "}
              <button type="button" onClick={() => setEdit(null)}>Отмена</button>
            </form>
          ) : (
            <>
              <dl className="pairs">
                <dt>ИНН</dt><dd>{org.inn}</dd>
                <dt>Адрес</dt><dd>{org.address}</dd>
                <dt>Телефон</dt><dd>{org.phone || "—"}</dd>
                <dt>Почта</dt><dd>{org.email || "—"}</dd>
              </dl>
              <button type="button" onClick={() => setEdit({ name: org.name, address: org.address,
                phone: org.phone ?? "", email: org.email ?? "" })}>Изменить данные</button>
            </>
          )}
          <Outcome action={action} />
        </article>
      )}
      {org?.status === "active" && (
        <ul className="tiles">
          <li><Link to="/provider/applications">Заявки</Link></li>
          <li><Link to="/provider/programs">Программы и группы</Link></li>
          <li><Link to="/provider/journal">Журнал посещаемости</Link></li>
          <li><Link to="/provider/invoices">Счета</Link></li>
        </ul>
      )}
    </section>
  );
}

// --- applications -----------------------------------------------------------------------

async function childNames(ids: number[]): Promise<Record<number, string>> {
  const out: Record<number, string> = {};
  await Promise.all(
    [...new Set(ids)].map(async (id) => {
      try {
        const child = await unwrap(api.GET("/api/v1/children/{child_id}", { params: { path: { child_id: id } } }));
        out[id] = `${child.first_name} ${child.last_name}`;
      } catch {
        out[id] = `Ребёнок №${id}`;
      }
    }),
  );
  return out;
}

async function groupsOf(ids: number[]): Promise<Record<number, Group>> {
  const out: Record<number, Group> = {};
  await Promise.all(
    [...new Set(ids)].map(async (id) => {
      out[id] = await unwrap(api.GET("/api/v1/groups/{group_id}", { params: { path: { group_id: id } } }));
    }),
  );
  return out;
}

export function ProviderApplications() {
  const user = useRole("provider");
  const data = useLoad(async () => {
    if (!user) return null;
    const list = async (status: "awaiting_provider" | "waitlisted") =>
      (await unwrap(api.GET("/api/v1/enrollments", { params: { query: { status, limit: 100 } } }))).items;
    const [awaiting, waiting] = await Promise.all([list("awaiting_provider"), list("waitlisted")]);
    awaiting.sort((a, b) => (a.decide_by ?? "").localeCompare(b.decide_by ?? ""));
    waiting.sort((a, b) => a.group_id - b.group_id || (a.waitlist_position ?? 0) - (b.waitlist_position ?? 0));
    const all = [...awaiting, ...waiting];
    const [names, groups] = await Promise.all([childNames(all.map((e) => e.child_id)), groupsOf(all.map((e) => e.group_id))]);
    return { awaiting, waiting, names, groups };
  }, `inbox-${user?.id}`);
  const action = useAction();
  const [rejecting, setRejecting] = useState<string | null>(null);
  const [reason, setReason] = useState("");
  const confirm = (e: Enrollment) =>
    action.run(async () => {
      await unwrap(api.POST("/api/v1/enrollments/{enrollment_id}/confirm", {
        params: { path: { enrollment_id: e.id }, ...key() } }));
      data.reload();
    }, `${data.data?.names[e.child_id]} зачислен(а).`);
  const reject = (e: Enrollment) =>
    action.run(async () => {
      await unwrap(api.POST("/api/v1/enrollments/{enrollment_id}/reject", {
        params: { path: { enrollment_id: e.id }, ...key() }, body: { reason } }));
      setRejecting(null);
      setReason("");
      data.reload();
    }, "Заявка отклонена.");
  const row = (e: Enrollment, waitlist: boolean) => {
    const group = data.data!.groups[e.group_id];
    const name = data.data!.names[e.child_id];
    return (
      <tr key={e.id}>
        <td>{name}</td>
        <td>{group?.name}</td>
        <td>{date(e.start_date)}</td>
        {waitlist ? (
          <td className="num">{e.waitlist_position}</td>
        ) : (
          <>
            <td>{e.decide_by ? <>{date(e.decide_by)}, <Countdown until={e.decide_by} /></> : "—"}</td>
            <td>
              {rejecting === e.id ? (
                <form className="inline" onSubmit={(event) => { event.preventDefault(); reject(e); }}>
                  <Field name={`reason-${e.id}`} label="Причина отказа" value={reason} errors={{}}
                    onChange={(event) => setReason(event.target.value)} required />
                  <button type="submit" disabled={action.busy || !reason.trim()}>Отклонить</button>{" "}
                  <button type="button" onClick={() => setRejecting(null)}>Отмена</button>
                </form>
              ) : (
                <>
                  <button type="button" className="primary" disabled={action.busy}
                    aria-label={`Зачислить: ${name}`} onClick={() => confirm(e)}>Зачислить</button>{" "}
                  <button type="button" aria-label={`Отклонить: ${name}`}
                    onClick={() => { setRejecting(e.id); setReason(""); }}>Отклонить…</button>
                </>
              )}
            </td>
          </>
        )}
      </tr>
    );
  };
  return (
    <section aria-labelledby="inbox-title">
      <h1 id="inbox-title">Заявки</h1>
      <ErrorNotice error={data.error} retry={data.reload} />
      <Outcome action={action} />
      {data.data && (
        <>
          <h2>Ждут решения ({data.data.awaiting.length})</h2>
          {data.data.awaiting.length === 0 ? <p>Новых заявок нет.</p> : (
            <div className="scroll" tabIndex={0} role="region" aria-label="Заявки, ждущие решения">
              <table>
                <thead><tr><th scope="col">Ребёнок</th><th scope="col">Группа</th><th scope="col">Начало</th>
                  <th scope="col">Решить до</th><th scope="col">Решение</th></tr></thead>
                <tbody>{data.data.awaiting.map((e) => row(e, false))}</tbody>
              </table>
            </div>
          )}
          <h2>Лист ожидания ({data.data.waiting.length})</h2>
          {data.data.waiting.length === 0 ? <p>В листе ожидания никого нет.</p> : (
            <div className="scroll" tabIndex={0} role="region" aria-label="Лист ожидания">
              <table>
                <thead><tr><th scope="col">Ребёнок</th><th scope="col">Группа</th><th scope="col">Начало</th>
                  <th scope="col">Место</th></tr></thead>
                <tbody>{data.data.waiting.map((e) => row(e, true))}</tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}

// --- programs and groups ----------------------------------------------------------------

const EMPTY_PROGRAM = {
  title: "", description: "", direction: "technical", level: "intro", format: "in_person",
  registry: "certified", min_age: "7", max_age: "14",
};

function Select({ name, label, value, options, onChange }: {
  name: string; label: string; value: string; options: Record<string, string>; onChange: (v: string) => void;
}) {
  return (
    <div className="field">
      <label htmlFor={name}>{label}</label>
      <select id={name} value={value} onChange={(e) => onChange(e.target.value)}>
        {Object.entries(options).map(([code, text]) => <option key={code} value={code}>{text}</option>)}
      </select>
    </div>
  );
}

function ProgramForm({ program, onSaved }: { program: Program | null; onSaved: () => void }) {
  const [form, setForm] = useState(program ? {
    title: program.title, description: program.description, direction: program.direction, level: program.level,
    format: program.format, registry: program.registry, min_age: String(program.min_age), max_age: String(program.max_age),
  } : EMPTY_PROGRAM);
  const action = useAction();
  const draft = !program || program.status === "draft";
  const set = (name: keyof typeof form) => (value: string) => setForm({ ...form, [name]: value });
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    type Body = Schemas["ProgramCreate"];
    const body = {
      ...form, min_age: Number(form.min_age), max_age: Number(form.max_age), adapted: program?.adapted ?? false,
      direction: form.direction as Body["direction"], level: form.level as Body["level"],
      format: form.format as Body["format"], registry: form.registry as Body["registry"],
    };
    const ok = await action.run(async () => {
      if (program) {
        const patch = draft ? body : { title: body.title, description: body.description, format: body.format };
        await unwrap(api.PATCH("/api/v1/programs/{program_id}", {
          params: { path: { program_id: program.id }, ...key() }, body: patch }));
      } else {
        await unwrap(api.POST("/api/v1/programs", { params: key(), body }));
      }
    });
    if (ok) onSaved();
  };
  const prefix = program ? `p${program.id}-` : "new-";
  const errors = Object.fromEntries(Object.entries(action.fields).map(([k, v]) => [prefix + k, v]));
  return (
    <form onSubmit={submit} noValidate className="grid-form">
      <Field name={`${prefix}title`} label="Название программы" value={form.title} errors={errors}
        onChange={(e) => set("title")(e.target.value)} required />
      <div className="field wide">
        <label htmlFor={`${prefix}description`}>Описание</label>
        <textarea id={`${prefix}description`} value={form.description} rows={3}
          onChange={(e) => set("description")(e.target.value)}
          aria-describedby={errors[`${prefix}description`] ? `${prefix}description-error` : undefined} />
        {errors[`${prefix}description`] && <p className="field-error" id={`${prefix}description-error`}>{errors[`${prefix}description`]}</p>}
      </div>
      {draft && (
        <>
          <Select name={`${prefix}direction`} label="Направленность" value={form.direction} options={DIRECTION} onChange={set("direction")} />
          <Select name={`${prefix}level`} label="Уровень" value={form.level} options={LEVEL} onChange={set("level")} />
          <Select name={`${prefix}registry`} label="Реестр" value={form.registry} options={REGISTRY} onChange={set("registry")} />
          <Field name={`${prefix}min_age`} label="Возраст от" type="number" value={form.min_age} errors={errors}
            onChange={(e) => set("min_age")(e.target.value)} />
          <Field name={`${prefix}max_age`} label="Возраст до" type="number" value={form.max_age} errors={errors}
            onChange={(e) => set("max_age")(e.target.value)} />
        </>
      )}
      <Select name={`${prefix}format`} label="Форма обучения" value={form.format} options={FORMAT} onChange={set("format")} />
      <div className="wide">
        <Outcome action={action} />
        <button type="submit" className="primary" disabled={action.busy}>{program ? "Сохранить программу" : "Создать программу"}</button>
      </div>
    </form>
  );
}

type ScheduleRow = { weekday: number; start: string; end: string };

function GroupForm({ program, onSaved }: { program: Program; onSaved: () => void }) {
  const [form, setForm] = useState({
    name: "", teacher: "", address: "", capacity: "15", start_date: "", end_date: "", price: "", lat: "56.0106", lon: "92.8526",
  });
  const [schedule, setSchedule] = useState<ScheduleRow[]>([{ weekday: 2, start: "16:00", end: "17:30" }]);
  const action = useAction();
  const p = `g${program.id}-`;
  const errors = Object.fromEntries(Object.entries(action.fields).map(([k, v]) => [p + k, v]));
  const set = (name: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [name]: e.target.value });
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const price = rublesIn(form.price);
    const ok = await action.run(async () => {
      await unwrap(api.POST("/api/v1/groups", {
        params: key(),
        body: {
          program_id: program.id, name: form.name, teacher: form.teacher, address: form.address,
          capacity: Number(form.capacity), start_date: form.start_date, end_date: form.end_date,
          price: price ?? form.price, lat: Number(form.lat), lon: Number(form.lon), schedule, enrollment_open: true,
        },
      }));
    });
    if (ok) onSaved();
  };
  return (
    <form onSubmit={submit} noValidate className="grid-form" aria-label={`Новая группа программы «${program.title}»`}>
      <Field name={`${p}name`} label="Название группы" value={form.name} onChange={set("name")} errors={errors} />
      <Field name={`${p}teacher`} label="Педагог" value={form.teacher} onChange={set("teacher")} errors={errors} />
      <Field name={`${p}address`} label="Адрес занятий" value={form.address} onChange={set("address")} errors={errors} />
      <Field name={`${p}capacity`} label="Мест" type="number" value={form.capacity} onChange={set("capacity")} errors={errors} />
      <Field name={`${p}start_date`} label="Начало" type="date" value={form.start_date} onChange={set("start_date")} errors={errors} />
      <Field name={`${p}end_date`} label="Окончание" type="date" value={form.end_date} onChange={set("end_date")} errors={errors} />
      <Field name={`${p}price`} label="Стоимость курса, ₽" inputMode="decimal" value={form.price} onChange={set("price")} errors={errors}
        hint="Нормативная стоимость считается по нормативу муниципалитета" />
      <Field name={`${p}lat`} label="Широта" inputMode="decimal" value={form.lat} onChange={set("lat")} errors={errors} />
      <Field name={`${p}lon`} label="Долгота" inputMode="decimal" value={form.lon} onChange={set("lon")} errors={errors} />
      <fieldset className="wide plain">
        <legend>Расписание на неделю</legend>
        {schedule.map((row, index) => (
          <div className="schedule-row" key={index}>
            <div className="field">
              <label htmlFor={`${p}wd-${index}`}>День</label>
              <select id={`${p}wd-${index}`} value={row.weekday}
                onChange={(e) => setSchedule(schedule.map((r, i) => (i === index ? { ...r, weekday: Number(e.target.value) } : r)))}>
                {[1, 2, 3, 4, 5, 6, 7].map((d) => <option key={d} value={d}>{WEEKDAYS[d]}</option>)}
              </select>
            </div>
            <Field name={`${p}start-${index}`} label="С" type="time" value={row.start} errors={{}}
              onChange={(e) => setSchedule(schedule.map((r, i) => (i === index ? { ...r, start: e.target.value } : r)))} />
            <Field name={`${p}end-${index}`} label="До" type="time" value={row.end} errors={{}}
              onChange={(e) => setSchedule(schedule.map((r, i) => (i === index ? { ...r, end: e.target.value } : r)))} />
            <button type="button" onClick={() => setSchedule(schedule.filter((_, i) => i !== index))}
              aria-label={`Убрать занятие ${index + 1}`}>Убрать</button>
          </div>
        ))}
        <button type="button" onClick={() => setSchedule([...schedule, { weekday: 4, start: "16:00", end: "17:30" }])}>
          Добавить занятие в неделю
        </button>
        {errors[`${p}schedule`] && <p className="field-error">{errors[`${p}schedule`]}</p>}
      </fieldset>
      <div className="wide">
        <Outcome action={action} />
        <button type="submit" className="primary" disabled={action.busy}>Открыть группу</button>
      </div>
    </form>
  );
}

function ProgramCard({ program, reload }: { program: Program; reload: () => void }) {
  const [editing, setEditing] = useState(false);
  const [adding, setAdding] = useState(false);
  const action = useAction();
  const groups = useLoad(async () => (await unwrap(api.GET("/api/v1/programs/{program_id}/groups", {
    params: { path: { program_id: program.id }, query: { limit: 100 } } }))).items, `groups-${program.id}-${adding}`);
  const submit = () => action.run(async () => {
    await unwrap(api.POST("/api/v1/programs/{program_id}/submit", { params: { path: { program_id: program.id }, ...key() } }));
    reload();
  }, "Программа отправлена на проверку.");
  return (
    <article className="card" aria-label={`Программа «${program.title}»`}>
      <h2>{program.title}</h2>
      <p className={`status status-${program.status}`}>{PROGRAM_STATUS[program.status]}
        {program.certified && " · сертифицирована"}</p>
      {program.status === "draft" && program.rejection_reason && (
        <p className="notice">Возвращена на доработку: {program.rejection_reason}</p>
      )}
      <p className="facts"><span>{DIRECTION[program.direction]}</span><span>{LEVEL[program.level]}</span>
        <span>{program.min_age}–{program.max_age} лет</span></p>
      <Outcome action={action} />
      {editing ? <ProgramForm program={program} onSaved={() => { setEditing(false); reload(); }} /> : (
        <div className="actions">
          {(program.status === "draft" || program.status === "published") && (
            <button type="button" onClick={() => setEditing(true)}>Изменить</button>
          )}
          {program.status === "draft" && (
            <button type="button" className="primary" onClick={submit} disabled={action.busy}>Отправить на проверку</button>
          )}
          {program.status === "published" && !adding && (
            <button type="button" onClick={() => setAdding(true)}>Новая группа</button>
          )}
        </div>
      )}
      {adding && <GroupForm program={program} onSaved={() => setAdding(false)} />}
      {groups.data && groups.data.length > 0 && (
        <div className="scroll" tabIndex={0} role="region" aria-label={`Группы программы «${program.title}»`}>
          <table>
            <thead><tr><th scope="col">Группа</th><th scope="col">Даты</th><th scope="col">Расписание</th>
              <th scope="col">Места</th><th scope="col">Стоимость</th><th scope="col">Норматив</th></tr></thead>
            <tbody>
              {groups.data.map((g) => (
                <tr key={g.id}>
                  <td>{g.name}</td>
                  <td>{date(g.start_date)} — {date(g.end_date)}</td>
                  <td>{g.schedule.map((s) => `${WEEKDAYS[s.weekday]} ${s.start}–${s.end}`).join(", ")}</td>
                  <td className="num">{g.enrolled + g.held} из {g.capacity}</td>
                  <td className="num">{money(g.price)}</td>
                  <td className="num">{money(g.normative_cost)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </article>
  );
}

export function ProviderPrograms() {
  const user = useRole("provider");
  const [creating, setCreating] = useState(false);
  const data = useLoad(async () => {
    if (!user?.organization_id) return null;
    return (await unwrap(api.GET("/api/v1/organizations/{organization_id}/programs", {
      params: { path: { organization_id: user.organization_id }, query: { limit: 100 } } }))).items;
  }, `programs-${user?.id}`);
  return (
    <section aria-labelledby="progs-title">
      <h1 id="progs-title">Программы и группы</h1>
      <ErrorNotice error={data.error} retry={data.reload} />
      {creating ? (
        <article className="card" aria-label="Новая программа">
          <h2>Новая программа</h2>
          <ProgramForm program={null} onSaved={() => { setCreating(false); data.reload(); }} />
        </article>
      ) : (
        <button type="button" className="primary" onClick={() => setCreating(true)}>Новая программа</button>
      )}
      {data.data?.map((program) => <ProgramCard key={program.id} program={program} reload={data.reload} />)}
    </section>
  );
}

// --- the attendance journal -------------------------------------------------------------

function daysOf(month: string, group: Group): string[] {
  const [year, number] = month.split("-").map(Number);
  const weekdays = new Set(group.schedule.map((s) => s.weekday));
  const out: string[] = [];
  for (let day = 1; day <= 31; day++) {
    const d = new Date(Date.UTC(year, number - 1, day));
    if (d.getUTCMonth() !== number - 1) break;
    const iso = d.toISOString().slice(0, 10);
    const weekday = d.getUTCDay() === 0 ? 7 : d.getUTCDay();
    if (weekdays.has(weekday) && iso >= group.start_date && iso <= group.end_date) out.push(iso);
  }
  return out;
}

type Column = { date: string; status: "" | "held" | "cancelled"; present: Set<number> };

export function ProviderJournal() {
  const user = useRole("provider");
  const { query } = useLocation();
  const [groupId, setGroupId] = useState<number | null>(Number(query.get("group")) || null);
  const [month, setMonth] = useState(query.get("month") || previousMonth(monthOf(new Date())));
  const groups = useLoad(async () => {
    if (!user?.organization_id) return [];
    const programs = (await unwrap(api.GET("/api/v1/organizations/{organization_id}/programs", {
      params: { path: { organization_id: user.organization_id }, query: { limit: 100 } } }))).items;
    const lists = await Promise.all(programs.map(async (p) => (await unwrap(api.GET("/api/v1/programs/{program_id}/groups", {
      params: { path: { program_id: p.id }, query: { limit: 100 } } }))).items.map((g) => ({ group: g, program: p }))));
    return lists.flat();
  }, `jgroups-${user?.id}`);
  const group = groups.data?.find((g) => g.group.id === groupId)?.group ?? null;
  const action = useAction();
  const [columns, setColumns] = useState<Column[]>([]);
  const sheet = useLoad(async () => {
    if (!group) return null;
    const [recorded, enrollments] = await Promise.all([
      unwrap(api.GET("/api/v1/groups/{group_id}/lessons", { params: { path: { group_id: group.id }, query: { month } } })),
      unwrap(api.GET("/api/v1/enrollments", { params: { query: { group_id: group.id, limit: 100 } } })),
    ]);
    const contracts = enrollments.items.filter((e) => ["enrolled", "completed", "terminated"].includes(e.status));
    const names = await childNames(contracts.map((e) => e.child_id));
    const spans = new Map<number, Enrollment>(contracts.map((e) => [e.child_id, e]));
    const inContract = (child: number, day: string) => {
      const e = spans.get(child);
      return !!e && e.start_date <= day && day <= (e.effective_end_date ?? e.end_date);
    };
    const scheduled = daysOf(month, group);
    const all = [...new Set([...scheduled, ...recorded.lessons.map((l) => l.date)])].sort()
      .filter((day) => contracts.some((e) => inContract(e.child_id, day)));
    setColumns(all.map((day) => {
      const lesson = recorded.lessons.find((l) => l.date === day);
      return { date: day, status: lesson ? lesson.status : "", present: new Set(lesson?.present ?? []) };
    }));
    const today = new Date().toISOString().slice(0, 10);
    return { recorded, contracts, names, inContract, locked: recorded.billed || today > recorded.submission_deadline };
  }, `sheet-${group?.id}-${month}-${action.done}`);
  const change = (index: number, update: Partial<Column>) =>
    setColumns(columns.map((c, i) => (i === index ? { ...c, ...update } : c)));
  const toggle = (index: number, child: number, on: boolean) => {
    const present = new Set(columns[index].present);
    if (on) present.add(child); else present.delete(child);
    change(index, { present, status: columns[index].status || "held" });
  };
  const save = () => action.run(async () => {
    const lessons = columns.filter((c) => c.status).map((c) => ({
      date: c.date,
      status: c.status as "held" | "cancelled",
      attendance: sheet.data!.contracts.filter((e) => sheet.data!.inContract(e.child_id, c.date))
        .map((e) => ({ child_id: e.child_id, present: c.status === "held" && c.present.has(e.child_id) })),
    }));
    if (lessons.length === 0) return;
    await unwrap(api.POST("/api/v1/groups/{group_id}/lessons", { params: { path: { group_id: group!.id }, ...key() },
      body: { lessons } }));
  }, "Журнал сохранён.");
  const locked = sheet.data?.locked ?? false;
  return (
    <section aria-labelledby="journal-title">
      <h1 id="journal-title">Журнал посещаемости</h1>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="journal-group">Группа</label>
          <select id="journal-group" value={groupId ?? ""} onChange={(e) => setGroupId(Number(e.target.value) || null)}>
            <option value="">Выберите группу…</option>
            {groups.data?.map(({ group: g, program }) => <option key={g.id} value={g.id}>{program.title}: {g.name}</option>)}
          </select>
        </div>
        <div className="field">
          <label htmlFor="journal-month">Месяц</label>
          <input id="journal-month" type="month" value={month} onChange={(e) => e.target.value && setMonth(e.target.value)} />
        </div>
      </div>
      <ErrorNotice error={groups.error || sheet.error} retry={sheet.reload} />
      {sheet.data && (
        <>
          <p>{monthName(month)}. Сдать до {date(sheet.data.recorded.submission_deadline)}.
            {locked && <strong> Журнал закрыт: {sheet.data.recorded.billed ? "месяц уже оплачен" : "срок сдачи прошёл"}.</strong>}</p>
          {columns.length === 0 ? <p>В этом месяце в группе нет занятий по договорам.</p> : (
            <div className="scroll" tabIndex={0} role="region" aria-label="Журнал: дети и занятия">
              <table className="journal">
                <thead>
                  <tr>
                    <th scope="col">Ребёнок</th>
                    {columns.map((c, index) => (
                      <th scope="col" key={c.date}>
                        <span>{date(c.date).replace(/ \d{4}$/, "")}</span>
                        <label className="sr-only" htmlFor={`status-${c.date}`}>Занятие {date(c.date)}</label>
                        <select id={`status-${c.date}`} value={c.status} disabled={locked}
                          onChange={(e) => change(index, { status: e.target.value as Column["status"] })}>
                          <option value="">—</option>
                          <option value="held">проведено</option>
                          <option value="cancelled">отменено</option>
                        </select>
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {sheet.data.contracts.map((e) => (
                    <tr key={e.child_id}>
                      <th scope="row">{sheet.data!.names[e.child_id]}</th>
                      {columns.map((c, index) => (
                        <td key={c.date} className="mark">
                          {sheet.data!.inContract(e.child_id, c.date) ? (
                            <input type="checkbox" disabled={locked || c.status === "cancelled"}
                              aria-label={`${sheet.data!.names[e.child_id]}, ${date(c.date)}: присутствовал(а)`}
                              checked={c.status === "held" && c.present.has(e.child_id)}
                              onChange={(event) => toggle(index, e.child_id, event.target.checked)} />
                          ) : "·"}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {sheet.data.recorded.children.length > 0 && (
            <p className="muted">Полнота за месяц: {sheet.data.recorded.children.map((c) =>
              `${sheet.data!.names[c.child_id] ?? c.child_id} — ${c.lessons_attended} из ${c.lessons_scheduled}`).join("; ")}</p>
          )}
          <Outcome action={action} />
          {!locked && columns.length > 0 && (
            <button type="button" className="primary" onClick={save} disabled={action.busy}>Сохранить журнал</button>
          )}
        </>
      )}
    </section>
  );
}

export function ProviderInvoices() {
  const user = useRole("provider");
  return (
    <section aria-labelledby="pinv-title">
      <h1 id="pinv-title">Счета</h1>
      {user && <InvoiceList canPay={false} />}
    </section>
  );
}

export { STATUS };
