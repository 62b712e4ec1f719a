// A report people read: figures, charts (spending by direction and by provider, coverage by
// month and, for the region, by municipality), CSV and XLSX downloads.
import { useEffect, useRef, useState } from "react";
import type { Chart as ChartType, ChartConfiguration } from "chart.js";
import { api, unwrap, type Schemas } from "../api/client";
import { download, monthOf, previousMonth } from "../console";
import { money, month as monthName } from "../format";
import { ErrorNotice, useLoad } from "../state";

type Report = Schemas["Report"];
const COLORS = ["#0b5cad", "#c25e00", "#17602c", "#7a2a9c", "#a11212", "#4a5360"];
const rubles = (value: string) => Number(value);

/** A chart on a canvas, described for a screen reader by its label and the table beside it. */
export function ChartBox({ label, config }: { label: string; config: ChartConfiguration }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const signature = JSON.stringify(config);
  useEffect(() => {
    let chart: ChartType | null = null;
    let live = true;
    import("../charts/chart").then(({ Chart }) => {
      if (live && canvas.current) chart = new Chart(canvas.current, { ...config, options: {
        responsive: true, maintainAspectRatio: false, animation: false, ...config.options } });
    });
    return () => {
      live = false;
      chart?.destroy();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [signature]);
  return (
    <div className="chart">
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}

function last(months: number, from: string): string[] {
  const out = [from];
  while (out.length < months) out.unshift(previousMonth(out[0]));
  return out;
}

async function reportOf(code: string | null, month: string | null): Promise<Report> {
  const query = month ? { month } : {};
  if (code === null) return unwrap(api.GET("/api/v1/reports/region", { params: { query } }));
  return unwrap(api.GET("/api/v1/municipalities/{municipality_code}/report", {
    params: { path: { municipality_code: code }, query } }));
}

/** `code` null: the region's report (with coverage by municipality), else one municipality's. */
export function ReportView({ code, title }: { code: string | null; title: string }) {
  const [month, setMonth] = useState(previousMonth(monthOf(new Date())));
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const data = useLoad(async () => {
    const report = await reportOf(code, month);
    const months = last(6, month);
    const byMonth = await Promise.all(months.map((m) => reportOf(code, m)));
    let byMunicipality: { name: string; percent: number }[] = [];
    if (code === null) {
      const municipalities = (await unwrap(api.GET("/api/v1/municipalities"))).items;
      setProgress({ done: 0, total: municipalities.length });
      let done = 0;
      const queue = [...municipalities];
      const worker = async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const one = await reportOf(next.code, month);
          byMunicipality.push({ name: next.name, percent: Number(one.children_covered_percent) });
          setProgress({ done: ++done, total: municipalities.length });
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      byMunicipality = byMunicipality.filter((m) => m.percent > 0).sort((a, b) => b.percent - a.percent).slice(0, 15);
    }
    return { report, months, byMonth, byMunicipality };
  }, `report-${code}-${month}`);
  const file = code ?? "region";
  const base = code === null ? "/api/v1/reports/region" : `/api/v1/municipalities/${code}/report`;
  const report = data.data?.report;
  return (
    <section aria-labelledby="report-title">
      <h1 id="report-title">{title}</h1>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="report-month">Месяц</label>
          <input id="report-month" type="month" value={month} onChange={(e) => e.target.value && setMonth(e.target.value)} />
        </div>
        <button type="button" onClick={() => download(`${base}.xlsx?month=${month}`, `${file}-${month}.xlsx`).catch(setError)}>
          Скачать XLSX
        </button>
        <button type="button" onClick={() => download(`${base}.csv?month=${month}`, `${file}-${month}.csv`).catch(setError)}>
          Скачать CSV
        </button>
      </div>
      <ErrorNotice error={data.error || error} retry={data.reload} />
      {data.loading && (
        <div className="progress-line" aria-live="polite">
          <label htmlFor="report-progress">Собираем отчёт{progress ? `: муниципалитеты ${progress.done} из ${progress.total}` : "…"}</label>
          <progress id="report-progress" max={progress?.total ?? 1} value={progress?.done ?? undefined} />
        </div>
      )}
      {report && !data.loading && data.data && (
        <>
          <dl className="pairs figures" aria-label="Основные показатели">
            <dt>Детей с договором</dt><dd data-figure="children_covered">{report.children_covered}</dd>
            <dt>Детей зарегистрировано</dt><dd data-figure="children_registered">{report.children_registered}</dd>
            <dt>Охват</dt><dd>{report.children_covered_percent.replace(".", ",")} %</dd>
            <dt>Списано с сертификатов</dt><dd data-figure="debited">{money(report.certificate_money.debited)}</dd>
            <dt>Зачислено на сертификаты</dt><dd>{money(report.certificate_usage.credited)}</dd>
            <dt>Зарезервировано</dt><dd>{money(report.certificate_usage.reserved)}</dd>
          </dl>
          <div className="charts">
            <figure>
              <figcaption>Расходы по направлениям, {monthName(month).toLowerCase()}</figcaption>
              <ChartBox label="Столбчатая диаграмма: расходы по направлениям" config={{
                type: "bar",
                data: {
                  labels: report.spending_by_direction.map((s) => s.name),
                  datasets: [
                    { label: "Сертификат, ₽", data: report.spending_by_direction.map((s) => rubles(s.certificate)), backgroundColor: COLORS[0] },
                    { label: "Доплата, ₽", data: report.spending_by_direction.map((s) => rubles(s.copay)), backgroundColor: COLORS[1] },
                  ],
                },
                options: { scales: { x: { stacked: true }, y: { stacked: true } } },
              }} />
            </figure>
            <figure>
              <figcaption>Расходы по поставщикам</figcaption>
              <ChartBox label="Столбчатая диаграмма: расходы по поставщикам" config={{
                type: "bar",
                data: {
                  labels: report.spending_by_provider.map((s) => s.name),
                  datasets: [
                    { label: "Сертификат, ₽", data: report.spending_by_provider.map((s) => rubles(s.certificate)), backgroundColor: COLORS[2] },
                    { label: "Доплата, ₽", data: report.spending_by_provider.map((s) => rubles(s.copay)), backgroundColor: COLORS[1] },
                  ],
                },
                options: { indexAxis: "y", scales: { x: { stacked: true }, y: { stacked: true } } },
              }} />
            </figure>
            <figure>
              <figcaption>Охват по месяцам: дети с договором / зарегистрированные, %</figcaption>
              <ChartBox label="Линейная диаграмма: охват по месяцам" config={{
                type: "line",
                data: {
                  labels: data.data.months.map((m) => monthName(m)),
                  datasets: [{ label: "Охват, %", data: data.data.byMonth.map((r) => Number(r.children_covered_percent)),
                    borderColor: COLORS[3], backgroundColor: COLORS[3] }],
                },
                options: { scales: { y: { beginAtZero: true } } },
              }} />
            </figure>
            {code === null && (
              <figure>
                <figcaption>Охват по муниципалитетам, %</figcaption>
                <ChartBox label="Столбчатая диаграмма: охват по муниципалитетам" config={{
                  type: "bar",
                  data: {
                    labels: data.data.byMunicipality.map((m) => m.name),
                    datasets: [{ label: "Охват, %", data: data.data.byMunicipality.map((m) => m.percent), backgroundColor: COLORS[0] }],
                  },
                  options: { indexAxis: "y" },
                }} />
              </figure>
            )}
          </div>
          <div className="scroll" tabIndex={0} role="region" aria-label="Расходы: таблица">
            <table>
              <caption>Расходы по направлениям и поставщикам</caption>
              <thead><tr><th scope="col">Раздел</th><th scope="col">Показатель</th><th scope="col">Сертификат</th>
                <th scope="col">Доплата</th><th scope="col">Начислений</th></tr></thead>
              <tbody>
                {report.spending_by_direction.map((s) => (
                  <tr key={`d-${s.key}`}><td>Направление</td><td>{s.name}</td><td className="num">{money(s.certificate)}</td>
                    <td className="num">{money(s.copay)}</td><td className="num">{s.charges}</td></tr>
                ))}
                {report.spending_by_provider.map((s) => (
                  <tr key={`p-${s.key}`}><td>Поставщик</td><td>{s.name}</td><td className="num">{money(s.certificate)}</td>
                    <td className="num">{money(s.copay)}</td><td className="num">{s.charges}</td></tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
