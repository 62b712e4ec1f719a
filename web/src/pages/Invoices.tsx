// Invoices with the contracts they list (their register): the provider's own, the
// municipal operator's to check and mark paid.
import { useState } from "react";
import { api, unwrap, type Schemas } from "../api/client";
import { download, key, Outcome, useAction } from "../console";
import { date, money, month } from "../format";
import { organizationName, programTitle } from "../names";
import { ErrorNotice, useLoad } from "../state";
import { CHARGE } from "../words";

type Invoice = Schemas["Invoice"];

export const INVOICE_KIND: Record<string, string> = {
  advance: "Аванс",
  final: "Итоговый",
  correction: "Корректировка",
};
export const INVOICE_STATUS: Record<string, string> = { issued: "Выставлен", paid: "Оплачен" };

function Register({ invoice }: { invoice: Invoice }) {
  const data = useLoad(async () => {
    const register = await unwrap(api.GET("/api/v1/invoices/{invoice_id}/contracts", {
      params: { path: { invoice_id: invoice.id } } }));
    const titles: Record<number, string> = {};
    await Promise.all([...new Set(register.contracts.map((c) => c.program_id))].map(async (id) => {
      titles[id] = await programTitle(id);
    }));
    return { register, titles };
  }, `register-${invoice.id}`);
  const [error, setError] = useState<unknown>(null);
  if (data.error) return <ErrorNotice error={data.error} retry={data.reload} />;
  if (!data.data) return <p aria-busy="true">Загрузка реестра…</p>;
  const { register, titles } = data.data;
  return (
    <div className="register">
      <div className="scroll" tabIndex={0} role="region" aria-label={`Договоры счёта №${invoice.id}`}>
        <table>
          <caption>Договоры в счёте №{invoice.id}: {register.contracts.length}</caption>
          <thead><tr><th scope="col">Договор</th><th scope="col">Программа</th><th scope="col">Сертификат</th>
            <th scope="col">Период</th><th scope="col">Полнота</th><th scope="col">Расчёт</th>
            <th scope="col">План</th><th scope="col">Списано</th></tr></thead>
          <tbody>
            {register.contracts.map((c) => (
              <tr key={c.contract_id}>
                <td>№{c.contract_id}</td>
                <td>{titles[c.program_id]}</td>
                <td>{c.certificate_number ?? "—"}</td>
                <td>{date(c.start_date)} — {date(c.end_date)}</td>
                <td className="num">{c.completeness ? `${Math.round(Number(c.completeness) * 100)} %` : "—"}</td>
                <td>{c.charge_status ? CHARGE[c.charge_status] ?? c.charge_status : "—"}</td>
                <td className="num">{money(c.planned)}</td>
                <td className="num">{money(c.debited)}</td>
              </tr>
            ))}
          </tbody>
          <tfoot><tr><th scope="row" colSpan={6}>Итого</th><td className="num">{money(register.planned)}</td>
            <td className="num">{money(register.debited)}</td></tr></tfoot>
        </table>
      </div>
      <ErrorNotice error={error} />
      <button type="button" onClick={() => download(`/api/v1/invoices/${invoice.id}/contracts.csv`,
        `invoice-${invoice.id}-contracts.csv`).catch(setError)}>Скачать реестр (CSV)</button>
    </div>
  );
}

export function InvoiceList({ canPay }: { canPay: boolean }) {
  const data = useLoad(async () => {
    const page = await unwrap(api.GET("/api/v1/invoices", { params: { query: { limit: 100 } } }));
    const names: Record<number, string> = {};
    await Promise.all([...new Set(page.items.map((i) => i.organization_id))].map(async (id) => {
      names[id] = await organizationName(id);
    }));
    return { items: [...page.items].sort((a, b) => b.month.localeCompare(a.month) || b.id - a.id), names };
  }, "invoices");
  const [open, setOpen] = useState<number | null>(null);
  const action = useAction();
  const pay = (invoice: Invoice) => action.run(async () => {
    await unwrap(api.POST("/api/v1/invoices/{invoice_id}/pay", { params: { path: { invoice_id: invoice.id }, ...key() } }));
    data.reload();
  }, `Счёт №${invoice.id} отмечен оплаченным.`);
  return (
    <>
      <ErrorNotice error={data.error} retry={data.reload} />
      <Outcome action={action} />
      {data.data?.items.length === 0 && <p>Счетов пока нет: они выставляются после расчёта месяца.</p>}
      {data.data?.items.map((invoice) => (
        <article key={invoice.id} className="card"
          aria-label={`Счёт №${invoice.id}: ${INVOICE_KIND[invoice.kind] ?? invoice.kind}, ${month(invoice.month)}`}>
          <h2>Счёт №{invoice.id} · {month(invoice.month)}</h2>
          <dl className="pairs">
            <dt>Организация</dt><dd>{data.data!.names[invoice.organization_id]}</dd>
            <dt>Вид</dt><dd>{INVOICE_KIND[invoice.kind] ?? invoice.kind}{invoice.kind === "correction" ? ` №${invoice.number}` : ""}</dd>
            <dt>Сумма</dt><dd>{money(invoice.amount)}</dd>
            <dt>Выставлен</dt><dd>{date(invoice.issued_at)}</dd>
            <dt>Состояние</dt><dd>{INVOICE_STATUS[invoice.status] ?? invoice.status}
              {invoice.paid_at ? `, ${date(invoice.paid_at)}` : ""}</dd>
          </dl>
          <div className="actions">
            <button type="button" aria-expanded={open === invoice.id}
              onClick={() => setOpen(open === invoice.id ? null : invoice.id)}>
              {open === invoice.id ? "Скрыть договоры" : "Договоры в счёте"}
            </button>
            {canPay && invoice.status !== "paid" && (
              <button type="button" className="primary" disabled={action.busy} onClick={() => pay(invoice)}>
                Отметить оплаченным
              </button>
            )}
          </div>
          {open === invoice.id && <Register invoice={invoice} />}
        </article>
      ))}
    </>
  );
}
