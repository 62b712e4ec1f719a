// The municipal operator's console: nominals by age band and the limit (used, reserved), the
// queue for financing, the completeness rule, invoices to check and pay, the report.
import { useEffect, useState, type FormEvent } from "react";
import { api, unwrap, type Schemas } from "../api/client";
import { key, Outcome, rublesIn, useAction, useRole } from "../console";
import { date, money } from "../format";
import { Field } from "../form";
import { Link } from "../router";
import { ErrorNotice, useLoad } from "../state";
import { InvoiceList } from "./Invoices";
import { ReportView } from "./Report";

type Band = { age_from: string; age_to: string; amount: string };
const fromRubles = (value: string) => value.replace(".", ",");

export function MunicipalityHome() {
  const user = useRole("municipal_operator");
  return (
    <section aria-labelledby="mun-title">
      <h1 id="mun-title">Муниципальный оператор</h1>
      {user && <p>{user.full_name}</p>}
      <ul className="tiles">
        <li><Link to="/municipality/funding">Номиналы, лимит и очередь</Link></li>
        <li><Link to="/municipality/invoices">Счета и реестры договоров</Link></li>
        <li><Link to="/municipality/report">Отчёт муниципалитета</Link></li>
      </ul>
    </section>
  );
}

export function MunicipalityFunding() {
  const user = useRole("municipal_operator");
  const code = user?.municipality_code ?? "";
  const periods = useLoad(async () => (user ? (await unwrap(api.GET("/api/v1/periods"))).items : null), `mperiods-${user?.id}`);
  const [periodId, setPeriodId] = useState<number | null>(null);
  useEffect(() => {
    if (!periodId && periods.data?.length) setPeriodId((periods.data.find((p) => p.status === "open") ?? periods.data[0]).id);
  }, [periods.data, periodId]);
  const funding = useLoad(async () => {
    if (!user || !periodId) return null;
    const path = { code, period_id: periodId };
    const [state, queue, settings, report] = await Promise.all([
      unwrap(api.GET("/api/v1/municipalities/{code}/periods/{period_id}/funding", { params: { path } })),
      unwrap(api.GET("/api/v1/municipalities/{code}/periods/{period_id}/queue", { params: { path, query: { limit: 100 } } })),
      unwrap(api.GET("/api/v1/municipalities/{municipality_code}/billing-settings", { params: { path: { municipality_code: code } } })),
      unwrap(api.GET("/api/v1/municipalities/{municipality_code}/report", { params: { path: { municipality_code: code }, query: {} } })),
    ]);
    return { state, queue: queue.items, settings, reserved: report.certificate_usage.reserved };
  }, `funding-${user?.id}-${periodId}`);
  const [bands, setBands] = useState<Band[]>([]);
  const [limit, setLimit] = useState("");
  const [reason, setReason] = useState("");
  const [mode, setMode] = useState<"delivered" | "attended">("delivered");
  useEffect(() => {
    const state = funding.data?.state;
    if (!state) return;
    setBands(state.bands.length ? state.bands.map((b) => ({ age_from: String(b.age_from ?? 0), age_to: String(b.age_to ?? 17),
      amount: fromRubles(b.amount) })) : [{ age_from: "5", age_to: "17", amount: "" }]);
    setLimit(fromRubles(state.limit));
    setMode(funding.data!.settings.completeness_mode as "delivered" | "attended");
  }, [funding.data]);
  const nominals = useAction();
  const limits = useAction();
  const rule = useAction();
  const path = { code, period_id: periodId ?? 0 };
  const saveNominals = (event: FormEvent) => {
    event.preventDefault();
    nominals.run(async () => {
      await unwrap(api.PUT("/api/v1/municipalities/{code}/periods/{period_id}/nominals", { params: { path, ...key() },
        body: { bands: bands.map((b) => ({ age_from: Number(b.age_from), age_to: Number(b.age_to), amount: rublesIn(b.amount) ?? b.amount })),
          reason: reason || "Номиналы на период" } }));
      funding.reload();
    }, "Номиналы сохранены.");
  };
  const saveLimit = (event: FormEvent) => {
    event.preventDefault();
    limits.run(async () => {
      await unwrap(api.PUT("/api/v1/municipalities/{code}/periods/{period_id}/limit", { params: { path, ...key() },
        body: { limit: rublesIn(limit) ?? limit } }));
      funding.reload();
    }, "Лимит сохранён.");
  };
  const saveRule = (event: FormEvent) => {
    event.preventDefault();
    rule.run(async () => {
      await unwrap(api.PUT("/api/v1/municipalities/{municipality_code}/completeness", {
        params: { path: { municipality_code: code }, ...key() }, body: { completeness_mode: mode } }));
    }, "Правило полноты сохранено.");
  };
  const state = funding.data?.state;
  const share = state && Number(state.limit) > 0 ? Math.min(100, Math.round((Number(state.used) / Number(state.limit)) * 100)) : 0;
  return (
    <section aria-labelledby="funding-title">
      <h1 id="funding-title">Номиналы, лимит и очередь</h1>
      <div className="field narrow">
        <label htmlFor="period">Период</label>
        <select id="period" value={periodId ?? ""} onChange={(e) => setPeriodId(Number(e.target.value))}>
          {periods.data?.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
        </select>
      </div>
      <ErrorNotice error={periods.error || funding.error} retry={funding.reload} />
      {state && funding.data && (
        <>
          <article className="card" aria-label="Лимит">
            <h2>Лимит</h2>
            <dl className="pairs">
              <dt>Лимит на период</dt><dd>{money(state.limit)}</dd>
              <dt>Выдано номиналами</dt><dd>{money(state.used)}</dd>
              <dt>Зарезервировано под договоры и заявки</dt><dd>{money(funding.data.reserved)}</dd>
              <dt>В очереди на финансирование</dt><dd>{state.queue_length}</dd>
            </dl>
            <label htmlFor="limit-used">Использовано лимита: {share} %</label>
            <progress id="limit-used" max={100} value={share} />
            <form onSubmit={saveLimit} className="toolbar" noValidate>
              <Field name="limit" label="Новый лимит, ₽" inputMode="decimal" value={limit} errors={limits.fields}
                onChange={(e) => setLimit(e.target.value)} />
              <button type="submit" disabled={limits.busy}>Сохранить лимит</button>
            </form>
            <Outcome action={limits} />
          </article>
          <article className="card" aria-label="Номиналы по возрасту">
            <h2>Номиналы по возрасту</h2>
            <form onSubmit={saveNominals} noValidate>
              {bands.map((band, index) => (
                <div className="schedule-row" key={index}>
                  <Field name={`from-${index}`} label="Возраст от" type="number" value={band.age_from} errors={{}}
                    onChange={(e) => setBands(bands.map((b, i) => (i === index ? { ...b, age_from: e.target.value } : b)))} />
                  <Field name={`to-${index}`} label="до" type="number" value={band.age_to} errors={{}}
                    onChange={(e) => setBands(bands.map((b, i) => (i === index ? { ...b, age_to: e.target.value } : b)))} />
                  <Field name={`amount-${index}`} label="Номинал, ₽" inputMode="decimal" value={band.amount} errors={{}}
                    onChange={(e) => setBands(bands.map((b, i) => (i === index ? { ...b, amount: e.target.value } : b)))} />
                  <button type="button" onClick={() => setBands(bands.filter((_, i) => i !== index))}
                    aria-label={`Убрать возрастную группу ${index + 1}`}>Убрать</button>
                </div>
              ))}
              <button type="button" onClick={() => setBands([...bands, { age_from: "", age_to: "", amount: "" }])}>Добавить возраст</button>
              <Field name="reason" label="Основание изменения" value={reason} errors={nominals.fields}
                onChange={(e) => setReason(e.target.value)} />
              {nominals.fields.bands && <p className="field-error">{nominals.fields.bands}</p>}
              <Outcome action={nominals} />
              <button type="submit" className="primary" disabled={nominals.busy}>Сохранить номиналы</button>
            </form>
            {state.changes && state.changes.length > 0 && (
              <details>
                <summary>История изменений ({state.changes.length})</summary>
                <ul>{state.changes.map((c, i) => <li key={i}>{date(c.effective_from)}: {c.reason}{c.in_force ? " (действует)" : ""}</li>)}</ul>
              </details>
            )}
          </article>
          <article className="card" aria-label="Правило полноты">
            <h2>Полнота оказания услуги</h2>
            <form onSubmit={saveRule} noValidate>
              <fieldset className="plain">
                <legend>Как считать месяц оказанным</legend>
                <label className="inline"><input type="radio" name="mode" checked={mode === "delivered"}
                  onChange={() => setMode("delivered")} /> по проведённым занятиям</label>
                <label className="inline"><input type="radio" name="mode" checked={mode === "attended"}
                  onChange={() => setMode("attended")} /> по посещённым ребёнком занятиям</label>
              </fieldset>
              <p>Журнал за месяц сдаётся до {funding.data.settings.submission_workday}-го рабочего дня следующего месяца.</p>
              <Outcome action={rule} />
              <button type="submit" disabled={rule.busy}>Сохранить правило</button>
            </form>
          </article>
          <article className="card" aria-label="Очередь на финансирование">
            <h2>Очередь на финансирование</h2>
            {funding.data.queue.length === 0 ? <p>Очереди нет.</p> : (
              <div className="scroll" tabIndex={0} role="region" aria-label="Очередь">
                <table>
                  <thead><tr><th scope="col">Место</th><th scope="col">Сертификат</th><th scope="col">В очереди с</th></tr></thead>
                  <tbody>{funding.data.queue.map((q: Schemas["QueueItem"]) => (
                    <tr key={q.certificate_number}><td className="num">{q.position}</td><td>{q.certificate_number}</td><td>{date(q.queued_at)}</td></tr>
                  ))}</tbody>
                </table>
              </div>
            )}
          </article>
        </>
      )}
    </section>
  );
}

export function MunicipalityInvoices() {
  const user = useRole("municipal_operator");
  return (
    <section aria-labelledby="minv-title">
      <h1 id="minv-title">Счета и реестры договоров</h1>
      {user && <InvoiceList canPay />}
    </section>
  );
}

export function MunicipalityReport() {
  const user = useRole("municipal_operator");
  return user ? <ReportView code={user.municipality_code ?? ""} title="Отчёт муниципалитета" /> : null;
}
