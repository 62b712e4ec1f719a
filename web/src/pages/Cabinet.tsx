import { api, idempotencyKey, unwrap, type Schemas } from "../api/client";
import { date, money, month } from "../format";
import { useAction } from "../form";
import { namesOf } from "../names";
import { Link } from "../router";
import { ErrorNotice, explain, useLoad, useRequireLogin } from "../state";
import { CANCELLABLE, CERTIFICATE_STATUS, CERTIFICATE_TYPE, CHARGE, STATUS, TRANSACTION } from "../words";

// nullable nested objects come out of openapi-typescript as `{} | T`: narrowed here
const balanceOf = (c: Schemas["Certificate"]) => (c.balance ?? null) as Schemas["Balance"] | null;
const paymentsBalance = (p: Schemas["ChildPayments"]) => (p.balance ?? null) as Schemas["Balance1"] | null;
const chargeOf = (m: Schemas["ContractMonth"]) => (m.charge ?? null) as Schemas["MonthCharge"] | null;
const childName = (c: Schemas["Child"]) => `${c.first_name} ${c.last_name}`;

async function children() {
  return (await unwrap(api.GET("/api/v1/children", { params: { query: { limit: 100 } } }))).items;
}

export function Certificates() {
  const user = useRequireLogin();
  const data = useLoad(async () => {
    if (!user) return null;
    const [kids, certificates] = await Promise.all([
      children(),
      unwrap(api.GET("/api/v1/certificates", { params: { query: { limit: 100 } } })),
    ]);
    return { kids, certificates: certificates.items };
  }, `cert-${user?.id}`);
  const action = useAction();
  const issue = (childId: number) =>
    action.run(async () => {
      await unwrap(api.POST("/api/v1/children/{child_id}/certificate", {
        params: { path: { child_id: childId }, header: { "Idempotency-Key": idempotencyKey() } },
      }));
      data.reload();
    });
  return (
    <section aria-labelledby="cert-title">
      <h1 id="cert-title">Сертификаты</h1>
      <ErrorNotice error={data.error || action.error} retry={data.reload} />
      {data.data?.kids.map((child) => {
        const certificate = data.data!.certificates.find((c) => c.child_id === child.id);
        return (
          <article key={child.id} className="card" aria-label={`Сертификат: ${childName(child)}`}>
            <h2>{childName(child)}</h2>
            {certificate ? (
              <>
                <dl className="pairs">
                  <dt>Номер</dt><dd>{certificate.number}</dd>
                  <dt>Вид</dt><dd>{CERTIFICATE_TYPE[certificate.type]}</dd>
                  <dt>Состояние</dt><dd>{CERTIFICATE_STATUS[certificate.status]}</dd>
                  <dt>Действует до</dt><dd>{date(certificate.valid_until)}</dd>
                  {certificate.queue_position != null && (
                    <><dt>Место в очереди на финансирование</dt><dd>{certificate.queue_position}</dd></>
                  )}
                  {balanceOf(certificate) && (
                    <>
                      <dt>Начислено</dt><dd>{money(balanceOf(certificate)!.credited)}</dd>
                      <dt>Доступно</dt><dd>{money(balanceOf(certificate)!.available)}</dd>
                      <dt>Зарезервировано</dt><dd>{money(balanceOf(certificate)!.reserved)}</dd>
                      <dt>Потрачено</dt><dd>{money(balanceOf(certificate)!.spent)}</dd>
                    </>
                  )}
                </dl>
                <Link to={`/certificates/${certificate.number}`}>История операций</Link>
              </>
            ) : (
              <button type="button" onClick={() => issue(child.id)}>Получить сертификат</button>
            )}
          </article>
        );
      })}
      {data.data?.kids.length === 0 && <p>Сначала <Link to="/children/new">добавьте ребёнка</Link>.</p>}
    </section>
  );
}

export function History({ number }: { number: string }) {
  const user = useRequireLogin();
  const data = useLoad(async () => {
    if (!user) return null;
    const [page, enrollments] = await Promise.all([
      unwrap(
        api.GET("/api/v1/certificates/{number}/transactions", {
          params: { path: { number }, query: { limit: 100 } },
        }),
      ),
      unwrap(api.GET("/api/v1/enrollments", { params: { query: { limit: 100 } } })),
    ]);
    const byId = new Map(enrollments.items.map((e) => [e.id, e]));
    const names = await namesOf(enrollments.items);
    return { items: page.items, byId, names };
  }, `hist-${number}-${user?.id}`);
  return (
    <section aria-labelledby="hist-title">
      <p><Link to="/certificates">← Сертификаты</Link></p>
      <h1 id="hist-title">История сертификата {number}</h1>
      <ErrorNotice error={data.error} retry={data.reload} />
      {data.data && (
        <div className="scroll" tabIndex={0} role="region" aria-label="Операции по сертификату">
          <table>
            <caption className="sr-only">Операции по сертификату</caption>
            <thead>
              <tr><th scope="col">Дата</th><th scope="col">Операция</th><th scope="col">Сумма</th><th scope="col">За что</th></tr>
            </thead>
            <tbody>
              {data.data.items.map((t) => {
                const enrollment = t.enrollment_id ? data.data!.byId.get(t.enrollment_id) : undefined;
                const names = enrollment ? data.data!.names[`${enrollment.program_id}:${enrollment.organization_id}`] : undefined;
                return (
                  <tr key={t.id}>
                    <td>{date(t.created_at)}</td>
                    <td>{TRANSACTION[t.kind] ?? t.kind}{t.month ? `, ${month(t.month).toLowerCase()}` : ""}</td>
                    <td className="num">{money(t.amount)}</td>
                    <td>{names ? `${names.program} — ${names.organization}` : t.reason ?? ""}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {data.data.items.length === 0 && <p>Операций пока не было.</p>}
        </div>
      )}
    </section>
  );
}

export function Applications() {
  const user = useRequireLogin();
  const data = useLoad(async () => {
    if (!user) return null;
    const [kids, page] = await Promise.all([
      children(),
      unwrap(api.GET("/api/v1/enrollments", { params: { query: { limit: 100 } } })),
    ]);
    return { kids, items: page.items, names: await namesOf(page.items) };
  }, `apps-${user?.id}`);
  const action = useAction();
  const cancel = (id: string) =>
    action.run(async () => {
      await unwrap(api.POST("/api/v1/enrollments/{enrollment_id}/cancel", {
        params: { path: { enrollment_id: id }, header: { "Idempotency-Key": idempotencyKey() } },
        body: { reason: "Отменено родителем" },
      }));
      data.reload();
    });
  return (
    <section aria-labelledby="apps-title">
      <h1 id="apps-title">Заявки и зачисления</h1>
      {action.error ? <p className="notice error" role="alert">{explain(action.error)}</p> : null}
      <ErrorNotice error={data.error} retry={data.reload} />
      <ul className="results">
        {data.data?.items.map((e) => {
          const child = data.data!.kids.find((c) => c.id === e.child_id);
          const names = data.data!.names[`${e.program_id}:${e.organization_id}`];
          return (
            <li key={e.id} className="card">
              <h2><Link to={`/programs/${e.program_id}`}>{names?.program}</Link></h2>
              <p className="org">{names?.organization}</p>
              <dl className="pairs">
                <dt>Ребёнок</dt><dd>{child ? childName(child) : e.child_id}</dd>
                <dt>Состояние</dt><dd className={`status ${e.status}`}>{STATUS[e.status] ?? e.status}</dd>
                {e.decide_by && <><dt>Решение до</dt><dd>{date(e.decide_by)}</dd></>}
                {e.waitlist_position != null && <><dt>Место в листе ожидания</dt><dd>{e.waitlist_position}</dd></>}
                <dt>Занятия</dt><dd>{date(e.start_date)} — {date(e.effective_end_date ?? e.end_date)}</dd>
                {e.terms && <><dt>Сертификат / доплата</dt><dd>{money(e.terms.certificate_share)} / {money(e.terms.copay)}</dd></>}
                {e.reason && <><dt>Причина</dt><dd>{e.reason}</dd></>}
              </dl>
              {CANCELLABLE.has(e.status) && (
                <button type="button" onClick={() => cancel(e.id)}>Отменить заявку</button>
              )}
            </li>
          );
        })}
      </ul>
      {data.data?.items.length === 0 && <p>Заявок пока нет. Найдите занятие в <Link to="/">каталоге</Link>.</p>}
    </section>
  );
}

export function Contracts() {
  const user = useRequireLogin();
  const data = useLoad(async () => {
    if (!user) return null;
    const kids = await children();
    const payments = await Promise.all(
      kids.map((child) =>
        unwrap(api.GET("/api/v1/children/{child_id}/payments", { params: { path: { child_id: child.id } } })),
      ),
    );
    const names = await namesOf(payments.flatMap((p) => p.contracts));
    return { kids, payments, names };
  }, `contracts-${user?.id}`);
  return (
    <section aria-labelledby="contracts-title">
      <h1 id="contracts-title">Договоры и оплата</h1>
      <ErrorNotice error={data.error} retry={data.reload} />
      {data.data?.payments.map((p, index) => {
        const child = data.data!.kids[index];
        return (
          <article key={p.child_id} aria-label={`Договоры: ${childName(child)}`}>
            <h2>{childName(child)}</h2>
            {paymentsBalance(p)?.available != null && (
              <p>
                На сертификате доступно {money(paymentsBalance(p)!.available)}, зарезервировано{" "}
                {money(paymentsBalance(p)!.reserved)}, потрачено {money(paymentsBalance(p)!.spent)}.
              </p>
            )}
            {p.contracts.length === 0 && <p>Договоров нет.</p>}
            {p.contracts.map((c) => {
              const names = data.data!.names[`${c.program_id}:${c.organization_id}`];
              return (
                <div key={c.id} className="card">
                  <h3>{names?.program} — {names?.organization}</h3>
                  <p>
                    Договор с {date(c.start_date)} по {date(c.end_date)}, {c.status === "active" ? "действует" : "расторгнут"}.
                    Всего {money(c.total)}: сертификат {money(c.certificate_share)}, доплата {money(c.copay)}.
                  </p>
                  <div className="scroll" tabIndex={0} role="region" aria-label={`По месяцам: ${names?.program ?? ""}`}>
                    <table>
                      <caption className="sr-only">По месяцам</caption>
                      <thead>
                        <tr>
                          <th scope="col">Месяц</th><th scope="col">План по сертификату</th>
                          <th scope="col">Списано</th><th scope="col">Возвращено</th>
                          <th scope="col">Доплата к оплате</th><th scope="col">Состояние</th>
                        </tr>
                      </thead>
                      <tbody>
                        {c.months.map((m) => ({ ...m, charge: chargeOf(m) })).map((m) => (
                          <tr key={m.month}>
                            <td>{month(m.month)}</td>
                            <td className="num">{money(m.certificate)}</td>
                            <td className="num">{m.charge ? money(m.charge.certificate_charged) : "—"}</td>
                            <td className="num">{m.charge ? money(m.charge.certificate_released) : m.released ? "да" : "—"}</td>
                            <td className="num">{m.charge ? money(m.charge.copay_charged) : money(m.copay)}</td>
                            <td>{m.charge ? CHARGE[m.charge.status] : m.released ? "Снято" : "Запланировано"}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                </div>
              );
            })}
          </article>
        );
      })}
    </section>
  );
}
