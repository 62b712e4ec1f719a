// Money as "1 900,00 ₽" and dates as "3 декабря 2026", the same on every browser (Intl's
// Russian date adds " г.", and its group separator differs between engines).
const MONTHS = [
  "января", "февраля", "марта", "апреля", "мая", "июня",
  "июля", "августа", "сентября", "октября", "ноября", "декабря",
];
const MONTHS_NOMINATIVE = [
  "Январь", "Февраль", "Март", "Апрель", "Май", "Июнь",
  "Июль", "Август", "Сентябрь", "Октябрь", "Ноябрь", "Декабрь",
];
const NBSP = "\u00a0";

/** "1900.00" (the API's decimal string) -> "1 900,00 ₽". */
export function money(value: string | null | undefined): string {
  if (value === null || value === undefined || value === "") return "—";
  const negative = value.startsWith("-");
  const [whole, fraction = "00"] = value.replace("-", "").split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, NBSP);
  return `${negative ? "−" : ""}${grouped},${fraction.padEnd(2, "0").slice(0, 2)}${NBSP}₽`;
}

/** "2026-12-03" or an ISO instant -> "3 декабря 2026". */
export function date(value: string | null | undefined): string {
  if (!value) return "—";
  const [year, month, day] = value.slice(0, 10).split("-").map(Number);
  return `${day} ${MONTHS[month - 1]} ${year}`;
}

/** "2026-12" or "2026-12-01" -> "Декабрь 2026". */
export function month(value: string): string {
  const [year, number] = value.split("-").map(Number);
  return `${MONTHS_NOMINATIVE[number - 1]} ${year}`;
}

export const WEEKDAYS = ["", "пн", "вт", "ср", "чт", "пт", "сб", "вс"];

export function ages(min: number, max: number): string {
  return `${min}–${max} лет`;
}
