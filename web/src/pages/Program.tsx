import { useState } from "react";
import { api, ApiError, idempotencyKey, unwrap, type Schemas } from "../api/client";
import { ages, date, money, month, WEEKDAYS } from "../format";
import { Link } from "../router";
import { ErrorNotice, explain, useLoad, useSession } from "../state";
import { FORMAT, LEVEL, PAYMENT, STATUS } from "../words";

type Group = Schemas["Group"];
type Child = Schemas["Child"];

export function ProgramPage({ id }: { id: number }) {
  const { user } = useSession();
  const page = useLoad(async () => {
    const program = await unwrap(
      api.GET("/api/v1/programs/{program_id}", { params: { path: { program_id: id } } }),
    );
    const [organization, groups] = await Promise.all([
      unwrap(
        api.GET("/api/v1/organizations/{organization_id}", {
          params: { path: { organization_id: program.organization_id } },
        }),
      ).catch(() => null),
      unwrap(
        api.GET("/api/v1/programs/{program_id}/groups", {
          params: { path: { program_id: id }, query: { limit: 100 } },
        }),
      ),
    ]);
    return { program, organization, groups: groups.items };
  }, `program-${id}`);
  const parent = user?.role === "parent";
  const children = useLoad(
    async () => (parent ? (await unwrap(api.GET("/api/v1/children"))).items : []),
    `children-${parent}`,
  );
  const [childId, setChildId] = useState<number | null>(null);
  const chosen = childId ?? children.data?.[0]?.id ?? null;
  if (page.error) return <ErrorNotice error={page.error} retry={page.reload} />;
  if (!page.data) return <p aria-busy="true">Загружаем программу…</p>;
  const { program, organization, groups } = page.data;
  return (
    <article aria-labelledby="program-title">
      <p><Link to="/">← К каталогу</Link></p>
      <h1 id="program-title">{program.title}</h1>
      <p className="org">{organization?.name}{organization?.address ? `, ${organization.address}` : ""}</p>
      <p className="facts">
        <span>{ages(program.min_age, program.max_age)}</span>
        <span>{FORMAT[program.format]}</span>
        <span>{LEVEL[program.level]}</span>
        <span>{PAYMENT[program.payment_type]}</span>
        {program.adapted && <span>для детей с ОВЗ</span>}
      </p>
      <p className="description">{program.description}</p>
      {organization && (organization.phone || organization.email) && (
        <p>Контакты: {[organization.phone, organization.email].filter(Boolean).join(", ")}</p>
      )}
      {parent && children.data && (
        children.data.length ? (
          <div className="field">
            <label htmlFor="child">Для кого считаем</label>
            <select id="child" value={chosen ?? ""} onChange={(e) => setChildId(Number(e.target.value))}>
              {children.data.map((c) => (
                <option key={c.id} value={c.id}>{c.first_name} {c.last_name}</option>
              ))}
            </select>
          </div>
        ) : (
          <p>Чтобы записаться, <Link to="/children/new">добавьте ребёнка</Link>.</p>
        )
      )}
      {!user && <p className="notice">Чтобы узнать стоимость для своего ребёнка и записаться, <Link to={`/login?next=/programs/${id}`}>войдите</Link>.</p>}
      <h2>Группы</h2>
      {groups.length === 0 && <p>Набор в группы пока не открыт.</p>}
      <ul className="groups">
        {groups.map((group) => (
          <GroupCard key={group.id} group={group} child={children.data?.find((c) => c.id === chosen) ?? null} />
        ))}
      </ul>
    </article>
  );
}

function GroupCard({ group, child }: { group: Group; child: Child | null }) {
  const [quote, setQuote] = useState<Schemas["Quote"] | null>(null);
  const [consent, setConsent] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<Schemas["Enrollment"] | null>(null);
  const [working, setWorking] = useState(false);
  const heading = `group-${group.id}`;
  const getQuote = async () => {
    if (!child) return;
    setError(null);
    setWorking(true);
    try {
      setQuote(
        await unwrap(
          api.GET("/api/v1/groups/{group_id}/quote", {
            params: { path: { group_id: group.id }, query: { child_id: child.id } },
          }),
        ),
      );
    } catch (reason) {
      setError(reason);
    } finally {
      setWorking(false);
    }
  };
  const apply = async () => {
    if (!child) return;
    setError(null);
    setWorking(true);
    try {
      setDone(
        await unwrap(
          api.POST("/api/v1/enrollments", {
            body: { child_id: child.id, group_id: group.id, accept_copay: consent },
            params: { header: { "Idempotency-Key": idempotencyKey() } },
          }),
        ),
      );
    } catch (reason) {
      setError(reason);
    } finally {
      setWorking(false);
    }
  };
  const copay = quote && Number(quote.copay) > 0;
  return (
    <li className="card" aria-labelledby={heading}>
      <h3 id={heading}>{group.name}</h3>
      <dl className="pairs">
        <dt>Педагог</dt><dd>{group.teacher}</dd>
        <dt>Расписание</dt>
        <dd>{group.schedule.map((l) => `${WEEKDAYS[l.weekday]} ${l.start}–${l.end}`).join(", ")}</dd>
        <dt>Адрес</dt><dd>{group.address}</dd>
        <dt>Возраст</dt><dd>{ages(group.min_age, group.max_age)}</dd>
        <dt>Занятия</dt><dd>{date(group.start_date)} — {date(group.end_date)}</dd>
        <dt>Свободных мест</dt><dd>{group.free_seats} из {group.capacity}</dd>
        <dt>Стоимость</dt><dd>{money(group.price)} за курс, {money(group.monthly_price)} в месяц</dd>
        <dt>Норматив</dt><dd>{money(group.normative_cost)}</dd>
      </dl>
      {child && !done && (
        <button type="button" onClick={getQuote} disabled={working}>
          Рассчитать стоимость для {child.first_name}
        </button>
      )}
      {quote && !done && (
        <div className="quote" aria-live="polite">
          <h4>Расчёт для {child?.first_name}</h4>
          <dl className="pairs">
            <dt>Всего</dt><dd>{money(quote.total)}</dd>
            <dt>Оплатит сертификат</dt><dd>{money(quote.certificate_share)}</dd>
            <dt>Доплата родителя</dt><dd>{money(quote.copay)}</dd>
            <dt>Период</dt><dd>{date(quote.start_date)} — {date(quote.end_date)}</dd>
          </dl>
          <table>
            <caption>По месяцам</caption>
            <thead><tr><th scope="col">Месяц</th><th scope="col">Сертификат</th><th scope="col">Доплата</th></tr></thead>
            <tbody>
              {quote.schedule.map((m) => (
                <tr key={m.month}><td>{month(m.month)}</td><td>{money(m.certificate)}</td><td>{money(m.copay)}</td></tr>
              ))}
            </tbody>
          </table>
          {copay && (
            <label className="consent">
              <input type="checkbox" checked={consent} onChange={(e) => setConsent(e.target.checked)} />
              Согласен(на) доплачивать {money(quote.copay)} сверх сертификата
            </label>
          )}
          <button type="button" className="primary" onClick={apply} disabled={working || (!!copay && !consent)}>
            Записаться
          </button>
        </div>
      )}
      {done && (
        <p className="notice success" role="status">
          Заявка отправлена: {STATUS[done.status]}
          {done.waitlist_position ? `, место в очереди ${done.waitlist_position}` : ""}.{" "}
          <Link to="/applications">Мои заявки</Link>
        </p>
      )}
      {error instanceof ApiError && error.status === 422 && error.problem?.code === "copay_not_accepted" ? (
        <p className="notice error" role="alert">Нужно согласие на доплату.</p>
      ) : (
        error ? <p className="notice error" role="alert">{explain(error)}</p> : null
      )}
    </li>
  );
}
