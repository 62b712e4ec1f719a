// The API's codes in words a parent reads.
export const STATUS: Record<string, string> = {
  requested: "Заявка подана",
  waitlisted: "В листе ожидания",
  awaiting_provider: "Ждёт решения организации",
  enrolled: "Зачислен",
  completed: "Обучение завершено",
  terminated: "Договор расторгнут",
  rejected: "Отклонена",
  cancelled: "Отменена",
  expired: "Срок заявки истёк",
};
export const CANCELLABLE = new Set(["requested", "waitlisted", "awaiting_provider"]);

export const FORMAT: Record<string, string> = {
  in_person: "Очно",
  distance: "Дистанционно",
  mixed: "Очно и дистанционно",
};
export const PAYMENT: Record<string, string> = {
  free: "Бесплатно",
  certificate: "По сертификату",
  own_money: "Платно",
};
export const LEVEL: Record<string, string> = {
  intro: "Ознакомительный",
  basic: "Базовый",
  advanced: "Углублённый",
};
export const CERTIFICATE_TYPE: Record<string, string> = {
  accounting: "Сертификат учёта",
  financing: "Сертификат финансирования",
};
export const CERTIFICATE_STATUS: Record<string, string> = {
  active: "Действует",
  frozen: "Приостановлен",
  expired: "Истёк",
};
export const TRANSACTION: Record<string, string> = {
  credit: "Зачисление",
  adjust: "Корректировка",
  reserve: "Резерв под договор",
  release: "Возврат резерва",
  debit: "Списание",
  expire: "Сгорание остатка",
};
export const CHARGE: Record<string, string> = {
  pending: "Ожидает",
  posted: "Проведено",
  refused: "Отказано",
};
