"""The consoles of providers and operators (issue 22), on a system of their own whose business
clock this test moves (tests/e2e/test_portal.py's `console_world`):

a new provider registers an organization (a wrong INN first: the message under the field),
the regional operator approves it; the provider creates a program and submits it, the region
certifies it; the provider opens a group. A parent applies through the API; the application
appears in the provider's inbox with its countdown and is confirmed there. The month over,
the provider marks its lessons in the journal; past the submission deadline, the regional
operator bills the month and watches the progress bar reach 100 %. The municipal operator
sees the invoice with its contracts, marks it paid and downloads the report as XLSX, whose
figures equal the JSON report's.

At the desktop size the journey runs; at the phone's, each role's pages are looked at again.
Every page is checked with axe-core and photographed into docs/screenshots/ (conftest.py)."""

import datetime
import io
import re
import uuid

import pytest
import requests
from openpyxl import load_workbook
from playwright.sync_api import expect

from servicekit import clock
from services.catalog import domain as catalog_domain
from services.payments import domain as payments_domain
from tests.browser.conftest import VIEWPORTS
from tests.support.accounts import PASSWORD, child_body, confirm_email
from tests.support.waiting import wait_for

# what the desktop journey made, for the phone's look at the same pages
MADE: dict = {}
WEEKDAY = ["", "пн", "вт", "ср", "чт", "пт", "сб", "вс"]
MONTHS = dict(zip(
    ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"],
    ["Январь", "Февраль", "Март", "Апрель", "Май", "Июнь", "Июль", "Август", "Сентябрь",
     "Октябрь", "Ноябрь", "Декабрь"], strict=True,
))  # fmt: skip


@pytest.fixture
def console(world) -> dict:
    return world["console"]


class Browsers:
    """A fresh browser context per person on the consoles' system (no session carried from
    one person to the next); a CSP violation or an uncaught error in any of them fails."""

    def __init__(self, browser, console, size):
        self.browser, self.console, self.size = browser, console, size
        self.contexts: list = []
        self.problems: list[str] = []
        self.page = None

    def fresh(self):
        if self.contexts:
            self.contexts[-1].close()
        context = self.browser.new_context(
            viewport=VIEWPORTS[self.size],
            base_url=self.console["base_url"],
            locale="ru-RU",
            is_mobile=self.size == "phone",
            has_touch=self.size == "phone",
            accept_downloads=True,
        )
        context.set_default_timeout(20_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda m: self.problems.append(m.text) if "Content Security Policy" in m.text else None,
        )
        self.page = page
        return page

    def log_in(self, email):
        page = self.fresh()
        page.goto("/login")
        page.get_by_label("Электронная почта").fill(email)
        page.get_by_label("Пароль").fill(PASSWORD)
        page.get_by_role("button", name="Войти").click()
        expect(page.get_by_role("button", name="Выйти")).to_be_visible()
        return page


@pytest.fixture
def people(browser, console, size):
    people = Browsers(browser, console, size)
    yield people
    if people.contexts:
        people.contexts[-1].close()
    assert not people.problems, people.problems


def api(console, method, path, token=None, body=None):
    headers = {"Idempotency-Key": str(uuid.uuid4()), "X-Forwarded-For": "10.22.0.1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(
        method, f"{console['base_url']}/api/v1{path}", json=body, headers=headers, timeout=20
    )


def token_of(console, email) -> str:
    answer = api(console, "POST", "/auth/login", body={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def fresh_inn() -> str:
    return catalog_domain.inn_with_check_digits(f"{uuid.uuid4().int % 9 * 10**8 + 10**8}")


def test_consoles_of_providers_and_operators(people, pages, console, size):
    if size == "phone":
        return look_again_on_a_phone(people, pages, console)
    journey(people, pages, console)


def journey(people, pages, console):
    page = people.fresh()
    today = clock.today()  # the system's clock is still the real one
    suffix = uuid.uuid4().hex[:6]
    org_name = f"Клуб юных техников «Импульс-{suffix}»"
    provider_email = f"impuls-{suffix}@example.ru"
    inn = fresh_inn()

    # --- a new provider registers the organization -----------------------------------------
    page.goto("/")
    page.get_by_role("link", name="Для организаций").click()
    page.get_by_label("Полное наименование").fill(org_name)
    page.get_by_label("ИНН").fill(inn[:-1] + str((int(inn[-1]) + 1) % 10))  # a check digit off
    page.get_by_label("Муниципалитет").select_option("krasnoyarsk")
    page.get_by_label("Адрес").fill("г. Красноярск, ул. Мира, 10")
    page.get_by_label("Телефон организации").fill("+73912000000")
    page.get_by_label("Фамилия, имя, отчество").fill("Кружкова Ольга Ивановна")
    page.get_by_label("Электронная почта для входа").fill(provider_email)
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_label("Я согласен(на) на обработку персональных данных").check()
    page.get_by_role("button", name="Зарегистрировать организацию").click()
    expect(page.locator("#inn-error")).to_contain_text("контрольными цифрами")
    pages.check(page, "provider-register")
    page.get_by_label("ИНН").fill(inn)
    page.get_by_role("button", name="Зарегистрировать организацию").click()
    page.wait_for_url("**/provider?registered=1")
    expect(page.get_by_text("Ждёт подтверждения регионального оператора")).to_be_visible()

    # --- the region approves it -------------------------------------------------------------
    page = people.log_in(console["regional_email"])
    page.wait_for_url("**/region")
    page.get_by_role("link", name="Организации").first.click()
    expect(page.get_by_role("cell", name=org_name, exact=True)).to_be_visible()
    pages.check(page, "region-organizations")
    page.get_by_role("button", name=f"Подтвердить: {org_name}").click()
    expect(page.get_by_text(f"«{org_name}» подтверждена.")).to_be_visible()

    # --- the provider creates a program and submits it; the region certifies it ---------------
    page = people.log_in(provider_email)
    page.wait_for_url("**/provider")
    expect(page.get_by_text("Действует", exact=True)).to_be_visible()
    pages.check(page, "provider-organization")
    page.get_by_role("link", name="Программы", exact=True).click()
    page.get_by_role("button", name="Новая программа").click()
    title = f"Робототехника {suffix}"
    page.get_by_label("Название программы").fill(title)
    page.get_by_label("Описание").fill("Собираем и программируем роботов из конструктора")
    page.get_by_label("Возраст от").fill("7")
    page.get_by_label("Возраст до").fill("14")
    page.get_by_role("button", name="Создать программу").click()
    card = page.get_by_role("article", name=f"Программа «{title}»")
    expect(card.get_by_text("Черновик")).to_be_visible()
    card.get_by_role("button", name="Отправить на проверку").click()
    expect(card.get_by_text("На проверке")).to_be_visible()

    page = people.log_in(console["regional_email"])
    page.goto("/region/programs")
    review = page.get_by_role("article", name=f"Программа «{title}»")
    expect(review.get_by_text(org_name)).to_be_visible()
    pages.check(page, "region-programs")
    review.get_by_role("button", name="Сертифицировать и опубликовать").click()
    expect(page.get_by_text(f"«{title}» опубликована.")).to_be_visible()

    # --- the provider opens a group: lessons on today's weekday, as long as a season --------
    page = people.log_in(provider_email)
    page.goto("/provider/programs")
    card = page.get_by_role("article", name=f"Программа «{title}»")
    expect(card.get_by_text("Опубликована")).to_be_visible()
    card.get_by_role("button", name="Новая группа").click()
    form = card.get_by_role("form", name=f"Новая группа программы «{title}»")
    form.get_by_label("Название группы").fill("Группа 1")
    form.get_by_label("Педагог").fill("Петрова Анна Сергеевна")
    form.get_by_label("Адрес занятий").fill("г. Красноярск, ул. Мира, 10")
    form.get_by_label("Мест").fill("12")
    form.get_by_label("Начало").fill(today.isoformat())
    form.get_by_label("Окончание").fill((today + datetime.timedelta(days=120)).isoformat())
    form.get_by_label("Стоимость курса, ₽").fill("12 000")
    form.get_by_label("День").select_option(str(today.isoweekday()))
    form.get_by_role("button", name="Открыть группу").click()
    expect(card.get_by_role("cell", name="Группа 1", exact=True)).to_be_visible()
    expect(
        card.get_by_role("cell", name=f"{WEEKDAY[today.isoweekday()]} 16:00–17:30", exact=True)
    ).to_be_visible()
    pages.check(page, "provider-programs")

    # --- a parent applies through the API; the provider confirms in the inbox ---------------
    provider = token_of(console, provider_email)
    organization_id = api(console, "GET", "/me", provider).json()["organization_id"]
    (program,) = api(console, "GET", f"/organizations/{organization_id}/programs", provider).json()[
        "items"
    ]
    (group,) = api(console, "GET", f"/programs/{program['id']}/groups").json()["items"]
    parent_email = f"parent-{suffix}@example.ru"
    registered = api(console, "POST", "/auth/register", body={
        "email": parent_email, "password": PASSWORD, "full_name": "Иванова Анна Сергеевна",
        "consent_personal_data": True})  # fmt: skip
    assert registered.status_code == 201, registered.text
    confirm_email(console["accounts_url"], registered.json()["id"])
    parent = token_of(console, parent_email)
    child = api(console, "POST", "/children", parent, child_body(birth_date="2016-05-20"))
    assert child.status_code == 201, child.text
    applied = api(console, "POST", "/enrollments", parent, {
        "child_id": child.json()["id"], "group_id": group["id"],
        "start_date": today.isoformat(), "accept_copay": True})  # fmt: skip
    assert applied.status_code == 201, applied.text

    def awaiting():
        answer = api(console, "GET", f"/enrollments/{applied.json()['id']}", provider).json()
        return answer if answer["status"] == "awaiting_provider" else None

    application = wait_for(awaiting, 30, "the application awaiting the provider", interval=0.3)
    page.goto("/provider/applications")
    expect(page.get_by_text(re.compile("^осталось "))).to_be_visible()
    pages.check(page, "provider-applications")
    page.get_by_role("button", name=re.compile("^Зачислить")).click()
    expect(page.get_by_text(re.compile("зачислен\\(а\\)"))).to_be_visible()
    expect(page.get_by_text("Новых заявок нет.")).to_be_visible()

    # --- the month is over: the provider marks its lessons in the journal -------------------
    start = datetime.date.fromisoformat(application["start_date"])
    month = payments_domain.month_of(start)
    _, last = payments_domain.parse_month(month)
    clock.set_shared(console["clock_file"], last + datetime.timedelta(days=1))

    def contract_known():  # payments learns of the contract from enrollment's event
        path = f"/groups/{group['id']}/lessons?month={month}"
        return api(console, "GET", path, provider).status_code == 200

    wait_for(contract_known, 30, "the contract in payments", interval=0.3)
    page.goto(f"/provider/journal?group={group['id']}&month={month}")
    marks = page.locator("table.journal input[type=checkbox]")
    expect(marks.first).to_be_visible()
    for index in range(marks.count()):
        marks.nth(index).check()
    page.get_by_role("button", name="Сохранить журнал").click()
    expect(page.get_by_text("Журнал сохранён.")).to_be_visible()
    expect(marks.first).to_be_checked()  # as the API now has it
    held = [
        lesson
        for lesson in api(
            console, "GET", f"/groups/{group['id']}/lessons?month={month}", provider
        ).json()["lessons"]  # fmt: skip
        if lesson["status"] == "held"
    ]
    assert held and all(child.json()["id"] in lesson["present"] for lesson in held), held
    pages.check(page, "provider-journal")

    # --- past the deadline: the region bills the month and watches it reach 100 % -----------
    clock.set_shared(
        console["clock_file"],
        payments_domain.submission_deadline(month) + datetime.timedelta(days=1),
    )
    page = people.log_in(console["regional_email"])
    page.goto("/region/billing")
    page.get_by_label("Месяц", exact=True).fill(month)
    page.get_by_role("button", name="Запустить расчёт").click()
    expect(page.locator("#run-percent")).to_have_text("100 %", timeout=90_000)
    expect(page.get_by_role("heading", name=re.compile("Завершён"))).to_be_visible()
    expect(page.locator("#run-progress")).to_have_attribute("value", "100")
    pages.check(page, "region-billing")
    page.goto("/region/periods")
    expect(page.get_by_role("cell", name="2026/2027", exact=True)).to_be_visible()
    pages.check(page, "region-periods")

    # --- the municipality checks the invoice's contracts, pays it, downloads the report -----
    page = people.log_in(console["municipal_email"])
    page.goto("/municipality/invoices")
    # the month's final invoice (an advance for the next month may be there too)
    invoice = page.get_by_role("article", name=re.compile(f"Итоговый, {MONTHS[month[5:]]}"))
    expect(invoice.get_by_text(org_name)).to_be_visible()
    invoice.get_by_role("button", name="Договоры в счёте").click()
    expect(invoice.get_by_text("Договоры в счёте №")).to_contain_text(": 1")
    expect(invoice.get_by_role("cell", name=title, exact=True)).to_be_visible()
    pages.check(page, "municipality-invoices")
    invoice.get_by_role("button", name="Отметить оплаченным").click()
    expect(page.get_by_text(re.compile("отмечен оплаченным"))).to_be_visible()
    expect(invoice.get_by_text(re.compile("^Оплачен"))).to_be_visible()

    page.goto("/municipality/report")
    page.get_by_label("Месяц", exact=True).fill(month)
    expect(page.locator("[data-figure=children_covered]")).to_have_text("1")
    with page.expect_download() as downloaded:
        page.get_by_role("button", name="Скачать XLSX").click()
    book = load_workbook(io.BytesIO(open(downloaded.value.path(), "rb").read()))
    found = {(r[0], r[1]): r[2:] for r in book.active.iter_rows(min_row=3, values_only=True)}
    municipal = token_of(console, console["municipal_email"])
    report = api(
        console, "GET", f"/municipalities/krasnoyarsk/report?month={month}", municipal
    ).json()
    assert found[("Дети", "Охвачено договорами")][2] == report["children_covered"] == 1
    assert found[("Дети", "Зарегистрировано")][2] == report["children_registered"]
    debited = found[("Деньги сертификатов в договорах", "Списано")][0]
    assert f"{debited:.2f}" == report["certificate_money"]["debited"] != "0.00"
    (line,) = report["spending_by_provider"]
    assert line["name"] == org_name
    assert f"{found[('Расходы по поставщикам', org_name)][0]:.2f}" == line["certificate"]
    expect(page.locator("canvas").first).to_be_visible()
    pages.check(page, "municipality-report")
    page.goto("/municipality/funding")
    expect(page.get_by_text("Лимит на период")).to_be_visible()
    pages.check(page, "municipality-funding")

    page = people.log_in(console["regional_email"])
    page.goto("/region/report")
    page.get_by_label("Месяц", exact=True).fill(month)
    expect(page.locator("[data-figure=children_covered]")).to_have_text("1", timeout=60_000)
    expect(page.locator("canvas")).to_have_count(4)
    pages.check(page, "region-report")

    page = people.log_in(provider_email)
    page.goto("/provider/invoices")
    page.get_by_role("button", name="Договоры в счёте").first.click()
    expect(page.get_by_role("cell", name=title, exact=True)).to_be_visible()
    pages.check(page, "provider-invoices")
    MADE.update(provider=provider_email, month=month, group=group["id"])


def look_again_on_a_phone(people, pages, console):
    if not MADE:
        pytest.skip("the desktop journey did not finish")
    page = people.fresh()
    page.goto("/provider/register")
    expect(page.get_by_role("heading", name="Регистрация организации")).to_be_visible()
    pages.check(page, "provider-register")
    page = people.log_in(MADE["provider"])
    for path, name, sign in (
        ("/provider", "provider-organization", "Действует"),
        ("/provider/programs", "provider-programs", "Опубликована"),
        ("/provider/applications", "provider-applications", "Новых заявок нет."),
        (f"/provider/journal?group={MADE['group']}&month={MADE['month']}", "provider-journal",
         "Журнал закрыт"),
        ("/provider/invoices", "provider-invoices", "Итоговый"),
    ):  # fmt: skip
        look_at(page, pages, path, name, sign)
    page = people.log_in(console["regional_email"])
    for path, name, sign in (
        ("/region/organizations", "region-organizations", "Показать"),
        ("/region/programs", "region-programs", "Программ на проверке нет."),
        ("/region/billing", "region-billing", "Запустить расчёт"),
        ("/region/periods", "region-periods", "2026/2027"),
    ):
        look_at(page, pages, path, name, sign)
    look_at_report(page, pages, "/region/report", "region-report", charts=4)
    page = people.log_in(console["municipal_email"])
    for path, name, sign in (
        ("/municipality/funding", "municipality-funding", "Лимит на период"),
        ("/municipality/invoices", "municipality-invoices", "Оплачен"),
    ):
        look_at(page, pages, path, name, sign)
    look_at_report(page, pages, "/municipality/report", "municipality-report", charts=3)


def look_at(page, pages, path, name, sign):
    """Open the console's page, wait for the text that says it has loaded, check it."""
    page.goto(path)
    expect(page.get_by_text(sign).first).to_be_visible()
    pages.check(page, name)


def look_at_report(page, pages, path, name, charts):
    """Open a report of the month the journey made, wait for its charts, check it."""
    page.goto(path)
    page.get_by_label("Месяц", exact=True).fill(MADE["month"])
    expect(page.locator("canvas")).to_have_count(charts, timeout=60_000)
    pages.check(page, name)
