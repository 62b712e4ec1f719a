import { useEffect, useState, type FormEvent } from "react";
import { api, unwrap, type Schemas } from "../api/client";
import type { paths } from "../api/schema";
import { ages, date, money } from "../format";
import { Link, navigate, useLocation } from "../router";
import { Choice } from "../form";
import { ErrorNotice, useLoad } from "../state";
import { FORMAT, PAYMENT } from "../words";

type Query = paths["/api/v1/catalog/search"]["get"]["parameters"]["query"];
const PAGE = 10;
const SORTS = { price: "Сначала дешевле", start_date: "Сначала раньше начало", distance: "Сначала ближе" };
const FIELDS = [
  "q", "municipality", "direction", "age", "payment_type", "max_monthly_price", "format",
  "adapted", "with_free_seats", "near", "radius_km", "sort",
] as const;

function toQuery(params: URLSearchParams, places: Schemas["Municipality"][]): Query {
  const query: Record<string, unknown> = { limit: PAGE, offset: Number(params.get("offset") ?? 0) };
  for (const name of ["q", "municipality", "direction", "payment_type", "format", "sort"]) {
    if (params.get(name)) query[name] = params.get(name);
  }
  if (params.get("age")) query.age = Number(params.get("age"));
  if (params.get("max_monthly_price")) query.max_monthly_price = params.get("max_monthly_price");
  if (params.get("adapted")) query.adapted = true;
  if (params.get("with_free_seats")) query.with_free_seats = true;
  const place = places.find((m) => m.code === params.get("municipality"));
  if (params.get("near") && place) {
    query.lat = place.lat;
    query.lon = place.lon;
    query.radius_km = Number(params.get("radius_km") || 10);
  }
  return query as Query;
}

export function Catalog() {
  const { query } = useLocation();
  const search = query.toString();
  const refs = useLoad(
    async () => {
      const [places, directions] = await Promise.all([
        unwrap(api.GET("/api/v1/municipalities")),
        unwrap(api.GET("/api/v1/directions")),
      ]);
      return { places: places.items, directions: directions.items };
    },
    "refs",
  );
  const results = useLoad(
    async () =>
      refs.data
        ? unwrap(api.GET("/api/v1/catalog/search", { params: { query: toQuery(query, refs.data.places) } }))
        : null,
    `${search}|${refs.data ? 1 : 0}`,
  );
  // on a phone the filters fold away, so that the results are on the first screen
  const [wide] = useState(() => window.matchMedia("(min-width: 40rem)").matches);
  const fromUrl = () => Object.fromEntries(FIELDS.map((name) => [name, query.get(name) ?? ""]));
  const [form, setForm] = useState<Record<string, string>>(fromUrl);
  // the form says what the results are for after a corrected query, Back or a link
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => setForm(fromUrl()), [search]);
  const set = (name: string, value: string) => setForm((old) => ({ ...old, [name]: value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(form)) if (value) params.set(name, value);
    navigate(`/?${params}`);
  };
  const goto = (offset: number) => {
    const params = new URLSearchParams(query);
    params.set("offset", String(offset));
    navigate(`/?${params}`);
  };
  // the corrected words with every other filter kept, from the first page
  const correctedHref = (words: string) => {
    const params = new URLSearchParams(query);
    params.set("q", words);
    params.delete("offset");
    return `/?${params}`;
  };
  const page = results.data;
  const offset = Number(query.get("offset") ?? 0);
  return (
    <section aria-labelledby="catalog-title">
      <h1 id="catalog-title">Каталог кружков и секций</h1>
      <form className="search" onSubmit={submit} role="search">
        <div className="field wide">
          <label htmlFor="q">Что ищете</label>
          <input id="q" type="search" value={form.q} onChange={(e) => set("q", e.target.value)}
            placeholder="шахматы, робототехника, танцы…" />
        </div>
        <Choice name="municipality" label="Где" empty="Весь край" options={refs.data?.places}
          value={form.municipality} onChange={(e) => set("municipality", e.target.value)} />
        <details className="filters" open={wide || undefined}>
          <summary>Фильтры</summary>
          <div className="filter-grid">
          <Choice name="direction" label="Направленность" empty="Любая" options={refs.data?.directions}
            value={form.direction} onChange={(e) => set("direction", e.target.value)} />
          <div className="field">
            <label htmlFor="age">Возраст ребёнка</label>
            <input id="age" type="number" min={0} max={18} inputMode="numeric" value={form.age}
              onChange={(e) => set("age", e.target.value)} />
          </div>
          <Choice name="payment_type" label="Оплата" empty="Любая" options={PAYMENT}
            value={form.payment_type} onChange={(e) => set("payment_type", e.target.value)} />
          <div className="field">
            <label htmlFor="max_monthly_price">Цена в месяц до, ₽</label>
            <input id="max_monthly_price" type="number" min={0} step="0.01" inputMode="decimal"
              value={form.max_monthly_price} onChange={(e) => set("max_monthly_price", e.target.value)} />
          </div>
          <Choice name="format" label="Формат" empty="Любой" options={FORMAT}
            value={form.format} onChange={(e) => set("format", e.target.value)} />
          <Choice name="sort" label="Порядок" empty="По совпадению" options={SORTS}
            value={form.sort} onChange={(e) => set("sort", e.target.value)} />
          <fieldset className="checks">
            <legend>Ещё</legend>
            <label><input type="checkbox" checked={!!form.adapted}
              onChange={(e) => set("adapted", e.target.checked ? "1" : "")} /> Адаптировано для детей с ОВЗ</label>
            <label><input type="checkbox" checked={!!form.with_free_seats}
              onChange={(e) => set("with_free_seats", e.target.checked ? "1" : "")} /> Есть свободные места</label>
            <label><input type="checkbox" checked={!!form.near}
              onChange={(e) => set("near", e.target.checked ? "1" : "")} /> Рядом с центром выбранного места</label>
            <label htmlFor="radius_km" className="inline">в радиусе, км</label>
            <input id="radius_km" className="short" type="number" min={1} max={200} value={form.radius_km}
              onChange={(e) => set("radius_km", e.target.value)} placeholder="10" />
          </fieldset>
          </div>
        </details>
        <button type="submit" className="primary">Найти</button>
      </form>
      <ErrorNotice error={refs.error || results.error} retry={results.reload} />
      <div aria-live="polite" aria-busy={results.loading}>
        {page?.corrected_query && (
          <p className="corrected">
            Возможно, вы искали: <Link to={correctedHref(page.corrected_query)}>
              {page.corrected_query}</Link>
          </p>
        )}
        {page && <p className="found">Найдено программ: {page.total}</p>}
        <ul className="results">
          {page?.items.map((item) => (
            <li key={item.id} className="card">
              <h2><Link to={`/programs/${item.id}`}>{item.title}</Link></h2>
              <p className="org">{item.organization.name}</p>
              <p className="facts">
                <span>{ages(item.min_age, item.max_age)}</span>
                <span>{FORMAT[item.format] ?? item.format}</span>
                <span>{PAYMENT[item.payment_type] ?? item.payment_type}</span>
                {item.adapted && <span>для детей с ОВЗ</span>}
              </p>
              <p className="facts">
                {item.groups.cheapest && <span>от {money(item.groups.cheapest.monthly_price)} в месяц</span>}
                <span>свободных мест: {item.groups.free_seats}</span>
                {item.groups.earliest_start && <span>начало {date(item.groups.earliest_start)}</span>}
              </p>
            </li>
          ))}
        </ul>
        {page && page.total > PAGE && (
          <nav className="pager" aria-label="Страницы результатов">
            <button type="button" disabled={offset === 0} onClick={() => goto(Math.max(0, offset - PAGE))}>
              ← Назад
            </button>
            <span>
              {offset + 1}–{Math.min(offset + PAGE, page.total)} из {page.total}
            </span>
            <button type="button" disabled={offset + PAGE >= page.total} onClick={() => goto(offset + PAGE)}>
              Дальше →
            </button>
          </nav>
        )}
      </div>
    </section>
  );
}
