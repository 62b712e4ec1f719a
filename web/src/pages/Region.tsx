// The regional operator's console: organizations to approve or suspend, programs to certify
// or send back, billing runs with their progress, periods, the region's report.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { api, unwrap, type Schemas } from "../api/client";
import { key, monthOf, Outcome, previousMonth, useAction, useRole } from "../console";
import { date, money, month as monthName } from "../format";
import { Field } from "../form";
import { Link } from "../router";
import { ErrorNotice, useLoad } from "../state";
import { LEVEL } from "../words";
import { DIRECTION, ORGANIZATION_STATUS, PROGRAM_STATUS, REGISTRY } from "./Provider";
import { ReportView } from "./Report";

type Run = Schemas["Run"];

export function RegionHome() {
  const user = useRole("regional_operator");
  return (
    <section aria-labelledby="region-title">
      <h1 id="region-title">Региональный оператор</h1>
      {user && <p>{user.full_name}</p>}
      <ul className="tiles">
        <li><Link to="/region/organizations">Организации</Link></li>
        <li><Link to="/region/programs">Программы на проверке</Link></li>
        <li><Link to="/region/billing">Расчёт месяца</Link></li>
        <li><Link to="/region/periods">Периоды</Link></li>
        <li><Link to="/region/report">Отчёт региона</Link></li>
      </ul>
    </section>
  );
}

export function RegionOrganizations() {
  const user = useRole("regional_operator");
  const [status, setStatus] = useState("pending");
  const data = useLoad(async () => {
    if (!user) return null;
    return (await unwrap(api.GET("/api/v1/organizations", { params: { query: { status: status as "pending", limit: 100 } } }))).items;
  }, `orgs-${user?.id}-${status}`);
  const action = useAction();
  const act = (id: number, name: string, what: "approve" | "suspend" | "reinstate") => action.run(async () => {
    const params = { params: { path: { organization_id: id }, ...key() } };
    if (what === "approve") await unwrap(api.POST("/api/v1/organizations/{organization_id}/approve", params));
    if (what === "suspend") await unwrap(api.POST("/api/v1/organizations/{organization_id}/suspend", params));
    if (what === "reinstate") await unwrap(api.POST("/api/v1/organizations/{organization_id}/reinstate", params));
    data.reload();
  }, { approve: `«${name}» подтверждена.`, suspend: `«${name}» приостановлена.`, reinstate: `«${name}» восстановлена.` }[what]);
  return (
    <section aria-labelledby="rorgs-title">
      <h1 id="rorgs-title">Организации</h1>
      <div className="field narrow">
        <label htmlFor="org-status">Показать</label>
        <select id="org-status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="pending">Ждут подтверждения</option>
          <option value="active">Действующие</option>
          <option value="suspended">Приостановленные</option>
        </select>
      </div>
      <ErrorNotice error={data.error} retry={data.reload} />
      <Outcome action={action} />
      {data.data?.length === 0 && <p>Организаций в этом состоянии нет.</p>}
      {data.data && data.data.length > 0 && (
        <div className="scroll" tabIndex={0} role="region" aria-label="Список организаций">
          <table>
            <thead><tr><th scope="col">Организация</th><th scope="col">ИНН</th><th scope="col">Муниципалитет</th>
              <th scope="col">Контакты</th><th scope="col">Состояние</th><th scope="col">Действие</th></tr></thead>
            <tbody>
              {data.data.map((o) => (
                <tr key={o.id}>
                  <td>{o.name}</td>
                  <td>{o.inn}</td>
                  <td>{o.municipality_code}</td>
                  <td>{[o.address, o.phone, o.email].filter(Boolean).join(", ")}</td>
                  <td>{ORGANIZATION_STATUS[o.status] ?? o.status}</td>
                  <td>
                    {o.status === "pending" && <button type="button" className="primary" disabled={action.busy}
                      aria-label={`Подтвердить: ${o.name}`} onClick={() => act(o.id, o.name, "approve")}>Подтвердить</button>}
                    {o.status === "active" && <button type="button" disabled={action.busy}
                      aria-label={`Приостановить: ${o.name}`} onClick={() => act(o.id, o.name, "suspend")}>Приостановить</button>}
                    {o.status === "suspended" && <button type="button" disabled={action.busy}
                      aria-label={`Восстановить: ${o.name}`} onClick={() => act(o.id, o.name, "reinstate")}>Восстановить</button>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function RegionPrograms() {
  const user = useRole("regional_operator");
  const data = useLoad(async () => {
    if (!user) return null;
    const items = (await unwrap(api.GET("/api/v1/programs", { params: { query: { status: "on_review", limit: 100 } } }))).items;
    const names: Record<number, string> = {};
    await Promise.all([...new Set(items.map((p) => p.organization_id))].map(async (id) => {
      names[id] = (await unwrap(api.GET("/api/v1/organizations/{organization_id}", { params: { path: { organization_id: id } } }))).name;
    }));
    return { items, names };
  }, `review-${user?.id}`);
  const action = useAction();
  const [returning, setReturning] = useState<number | null>(null);
  const [reason, setReason] = useState("");
  const certify = (id: number, title: string) => action.run(async () => {
    await unwrap(api.POST("/api/v1/programs/{program_id}/certify", { params: { path: { program_id: id }, ...key() } }));
    data.reload();
  }, `«${title}» опубликована.`);
  const sendBack = (event: FormEvent, id: number, title: string) => {
    event.preventDefault();
    action.run(async () => {
      await unwrap(api.POST("/api/v1/programs/{program_id}/reject", { params: { path: { program_id: id }, ...key() }, body: { reason } }));
      setReturning(null);
      data.reload();
    }, `«${title}» возвращена на доработку.`);
  };
  return (
    <section aria-labelledby="review-title">
      <h1 id="review-title">Программы на проверке</h1>
      <ErrorNotice error={data.error} retry={data.reload} />
      <Outcome action={action} />
      {data.data?.items.length === 0 && <p>Программ на проверке нет.</p>}
      {data.data?.items.map((p) => (
        <article key={p.id} className="card" aria-label={`Программа «${p.title}»`}>
          <h2>{p.title}</h2>
          <p className="org">{data.data!.names[p.organization_id]}</p>
          <p>{p.description}</p>
          <p className="facts"><span>{DIRECTION[p.direction]}</span><span>{LEVEL[p.level]}</span>
            <span>{p.min_age}–{p.max_age} лет</span><span>{REGISTRY[p.registry]}</span>
            <span>{PROGRAM_STATUS[p.status]}</span></p>
          {returning === p.id ? (
            <form onSubmit={(e) => sendBack(e, p.id, p.title)} noValidate>
              <Field name={`reason-${p.id}`} label="Что исправить" value={reason} errors={action.fields.reason ? { [`reason-${p.id}`]: action.fields.reason } : {}}
                onChange={(e) => setReason(e.target.value)} />
              <button type="submit" disabled={action.busy || !reason.trim()}>Вернуть на доработку</button>{" "}
              <button type="button" onClick={() => setReturning(null)}>Отмена</button>
            </form>
          ) : (
            <div className="actions">
              <button type="button" className="primary" disabled={action.busy} onClick={() => certify(p.id, p.title)}>
                Сертифицировать и опубликовать
              </button>
              <button type="button" onClick={() => { setReturning(p.id); setReason(""); }}>Вернуть с замечанием…</button>
            </div>
          )}
        </article>
      ))}
    </section>
  );
}

const RUN_STATUS: Record<string, string> = {
  running: "Идёт расчёт",
  completed: "Завершён",
};

export function RegionBilling() {
  useRole("regional_operator");
  const [month, setMonth] = useState(previousMonth(monthOf(new Date())));
  const [run, setRun] = useState<Run | null>(null);
  const action = useAction();
  const timer = useRef<number | null>(null);
  useEffect(() => () => { if (timer.current) window.clearTimeout(timer.current); }, []);
  const follow = (id: number) => {
    timer.current = window.setTimeout(async () => {
      try {
        const now = await unwrap(api.GET("/api/v1/billing/runs/{run_id}", { params: { path: { run_id: id } } }));
        setRun(now);
        if (now.status !== "completed") follow(id);
      } catch {
        follow(id);
      }
    }, 700);
  };
  const start = (event: FormEvent) => {
    event.preventDefault();
    action.run(async () => {
      const started = await unwrap(api.POST("/api/v1/billing/runs", { params: key(), body: { month } }));
      setRun(started);
      follow(started.id);
    });
  };
  const running = run && run.status !== "completed";
  return (
    <section aria-labelledby="billing-title">
      <h1 id="billing-title">Расчёт месяца</h1>
      <p>Списание по договорам за месяц после срока сдачи журналов. Повторный запуск того же месяца покажет начатый расчёт.</p>
      <form onSubmit={start} className="toolbar" noValidate>
        <Field name="month" label="Месяц" type="month" value={month} errors={action.fields}
          onChange={(e) => e.target.value && setMonth(e.target.value)} />
        <button type="submit" className="primary" disabled={action.busy || !!running}>Запустить расчёт</button>
      </form>
      <Outcome action={action} />
      {run && (
        <article className="card" aria-label="Ход расчёта">
          <h2>{monthName(run.month)}: {RUN_STATUS[run.status] ?? run.status}</h2>
          <label htmlFor="run-progress">Готово: <span id="run-percent">{run.percent} %</span></label>
          <progress id="run-progress" max={100} value={run.percent} />
          <dl className="pairs">
            <dt>Договоров</dt><dd>{run.contracts_total}</dd>
            <dt>Рассчитано</dt><dd>{run.charged}</dd>
            <dt>Проведено</dt><dd>{run.posted}</dd>
            <dt>Отказано</dt><dd>{run.refused}</dd>
            <dt>Ожидают</dt><dd>{run.pending}</dd>
            <dt>Списано с сертификатов</dt><dd>{money(run.certificate_charged)}</dd>
            <dt>Доплаты родителей</dt><dd>{money(run.copay_charged)}</dd>
          </dl>
        </article>
      )}
    </section>
  );
}

const PERIOD_STATUS: Record<string, string> = { open: "Открыт", closing: "Закрывается", closed: "Закрыт" };

export function RegionPeriods() {
  const user = useRole("regional_operator");
  const data = useLoad(async () => (user ? (await unwrap(api.GET("/api/v1/periods"))).items : null), `periods-${user?.id}`);
  const usage = useLoad(async () => (user ? unwrap(api.GET("/api/v1/reports/region", { params: { query: {} } })) : null), `usage-${user?.id}`);
  const action = useAction();
  const [confirming, setConfirming] = useState<number | null>(null);
  const [result, setResult] = useState<Schemas["PeriodClosed"] | null>(null);
  const today = new Date().toISOString().slice(0, 10);
  const close = (id: number) => action.run(async () => {
    setResult(await unwrap(api.POST("/api/v1/periods/{period_id}/close", { params: { path: { period_id: id }, ...key() } })));
    setConfirming(null);
    data.reload();
  }, "Период закрыт.");
  const left = usage.data ? (() => {
    const u = usage.data.certificate_usage;
    const kopecks = Math.round((Number(u.credited) - Number(u.spent) - Number(u.expired) - Number(u.reserved)) * 100);
    return money((Math.max(kopecks, 0) / 100).toFixed(2));
  })() : null;
  return (
    <section aria-labelledby="periods-title">
      <h1 id="periods-title">Периоды</h1>
      <ErrorNotice error={data.error} retry={data.reload} />
      <Outcome action={action} />
      {result && (
        <p className="notice success">Сгорело остатков: {money(result.expired)}; сертификатов с новым номиналом: {result.credited};
          в очереди на финансирование: {result.queued}.</p>
      )}
      {data.data && (
        <div className="scroll" tabIndex={0} role="region" aria-label="Периоды">
          <table>
            <thead><tr><th scope="col">Период</th><th scope="col">Даты</th><th scope="col">Состояние</th><th scope="col">Закрытие</th></tr></thead>
            <tbody>
              {data.data.map((p) => {
                const over = today > p.end_date;
                return (
                  <tr key={p.id}>
                    <td>{p.name}</td>
                    <td>{date(p.start_date)} — {date(p.end_date)}</td>
                    <td>{PERIOD_STATUS[p.status] ?? p.status}</td>
                    <td>
                      {p.status === "closed" ? "—" : confirming === p.id ? (
                        <div role="alertdialog" aria-labelledby={`close-${p.id}`} className="confirm">
                          <p id={`close-${p.id}`}>Закрыть «{p.name}»? Неизрасходованные остатки на сертификатах сгорят
                            {left ? ` (сейчас по региону около ${left} свободно)` : ""}, сертификатам будет начислен номинал следующего периода.
                            Отменить это нельзя.</p>
                          <button type="button" className="primary" disabled={action.busy} onClick={() => close(p.id)}>Да, закрыть</button>{" "}
                          <button type="button" onClick={() => setConfirming(null)}>Отмена</button>
                        </div>
                      ) : (
                        <>
                          <button type="button" disabled={!over} aria-describedby={over ? undefined : `why-${p.id}`}
                            onClick={() => setConfirming(p.id)}>Закрыть период…</button>
                          {!over && <small id={`why-${p.id}`}> после {date(p.end_date)}</small>}
                        </>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {action.busy && <p aria-live="polite"><progress aria-label="Закрываем период" /> Закрываем период: остатки списываются, номиналы начисляются…</p>}
    </section>
  );
}

export function RegionReport() {
  const user = useRole("regional_operator");
  return user ? <ReportView code={null} title="Отчёт региона" /> : null;
}
