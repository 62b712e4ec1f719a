"""The journeys of issue 21's "Done when", each at a desktop's and a phone's size (390 x 844):
search, program, registration and the confirmation letter's link, child, quote and application;
the provider's confirmation through the API, then what the parent sees; a cancelled
application; the way back through login; a forgotten password replaced through the reset
letter's link; after a billing run (on a system of its own, whose clock is past the month's
deadline), the debit in the history and the balance. Every page is checked with axe-core and
photographed into docs/screenshots/ (conftest.py)."""

import gzip
import re
import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.support.accounts import PASSWORD, as_user, fresh_snils
from tests.support.mail import MailServer, text_of
from tests.support.waiting import wait_for

JS_BUDGET = 250 * 1024  # first load of the catalog, gzipped


def api(world, method, path, token, body=None):
    return as_user(world["base_url"], method, path, token, body)


def test_anonymous_search_finds_chess_in_a_town_and_its_groups(page, pages, world, size):
    scripts = []
    page.on(
        "response", lambda r: scripts.append(r) if r.request.resource_type == "script" else None
    )
    page.goto("/")
    page.wait_for_selector("#municipality option[value=krasnoyarsk]", state="attached")
    shipped = sum(len(gzip.compress(r.body(), 9)) for r in scripts)
    print(f"catalog first load: {len(scripts)} script(s), {shipped} bytes of JS gzipped")
    assert 0 < shipped <= JS_BUDGET
    page.evaluate("() => { window.sameDocument = true }")

    page.get_by_label("Что ищете").fill("шахматы")
    page.get_by_label("Где").select_option("krasnoyarsk")
    page.get_by_role("button", name="Найти").click()
    result = page.get_by_role("link", name="Шахматы для начинающих")
    expect(result).to_be_visible()
    expect(page.get_by_text(re.compile(r"Найдено программ: [1-9]"))).to_be_visible()
    assert page.evaluate("() => window.sameDocument") is True  # no full page reload
    pages.check(page, "catalog")

    page.context.set_offline(True)  # the browser says so, and so does the portal
    expect(page.get_by_text("Нет подключения к интернету")).to_be_visible()
    page.context.set_offline(False)
    expect(page.get_by_text("Нет подключения к интернету")).to_be_hidden()

    result.click()
    expect(page.get_by_role("heading", level=1, name="Шахматы для начинающих")).to_be_visible()
    expect(page.get_by_role("heading", level=3, name="Группа 1")).to_be_visible()
    expect(page.get_by_text("Петрова")).to_be_visible()  # the teacher
    expect(page.get_by_text("12\u00a0000,00\u00a0₽ за курс")).to_be_visible()
    expect(page.get_by_text("1 сентября 2026 — 31 мая 2027")).to_be_visible()
    pages.check(page, "program")


# what a person can use: every visible link and enabled control, by id or its text
CONTROLS = """() => [...document.querySelectorAll('a[href], button, input, select, textarea')]
    .filter(e => !e.disabled && e.offsetParent !== null)
    .map(e => e.id || e.textContent.trim())"""


@pytest.mark.parametrize("path", ["/", "/register", "/login"])
def test_keyboard_reaches_every_control_of_the_page(page, size, path):
    if size == "phone":
        return  # a phone has no Tab key; its touch targets are checked by axe
    page.goto(path)
    page.wait_for_selector("form button[type=submit]")
    if path == "/":
        page.wait_for_selector("#municipality option[value=krasnoyarsk]", state="attached")
        page.wait_for_load_state("networkidle")
    controls = set(page.evaluate(CONTROLS))
    reached = set()
    # Tab until every control was reached (results rendered late add controls before the
    # footer, so a fixed count of presses is not enough); a control Tab never reaches fails
    for _ in range(300):
        page.keyboard.press("Tab")
        reached.add(
            page.evaluate(
                "() => document.activeElement.id || document.activeElement.textContent.trim()"
            )
        )
        if controls <= reached:
            break
    assert controls and controls <= reached, controls - reached


def test_a_misspelt_search_offers_the_corrected_query(page, size):
    page.goto("/?q=шахмоты&municipality=krasnoyarsk")
    expect(page.get_by_text("Возможно, вы искали:")).to_be_visible()
    page.get_by_role("link", name="шахматы", exact=True).click()
    expect(page.get_by_role("link", name="Шахматы для начинающих")).to_be_visible()
    expect(page.get_by_text("Возможно, вы искали:")).to_be_hidden()
    # the form shows what the results are for, the other filters kept
    assert page.get_by_label("Что ищете").input_value() == "шахматы"
    assert page.get_by_label("Где").input_value() == "krasnoyarsk"
    assert "municipality=krasnoyarsk" in page.url


SEARCH = re.compile(r"/api/v1/catalog/search\?")


def problem(status: int, code: str, **extra) -> dict:
    body = {"type": "about:blank", "title": code, "status": status, "code": code, **extra}
    return {"status": status, "content_type": "application/problem+json", "json": body}


def test_a_busy_service_is_asked_again_and_then_offered_a_retry(page, size):
    """503 on a read: asked again twice while "повторяем" shows, then a message with a button
    that asks once more (the gateway's answers are replaced here; the rest is the real one)."""
    busy = {"left": 3}  # the first answer and both repeats

    def answer(route):
        if busy["left"]:
            busy["left"] -= 1
            route.fulfill(**problem(503, "service_unavailable"))
        else:
            route.continue_()

    page.route(SEARCH, answer)
    page.goto("/?q=шахматы&municipality=krasnoyarsk")
    expect(page.get_by_text("Сервис занят, повторяем запрос…")).to_be_visible()
    expect(page.get_by_text("Сервис сейчас перегружен")).to_be_visible(timeout=10_000)
    expect(page.get_by_text("Сервис занят, повторяем запрос…")).to_be_hidden()
    assert busy["left"] == 0
    page.get_by_role("button", name="Повторить").click()
    expect(page.get_by_role("link", name="Шахматы для начинающих")).to_be_visible()
    expect(page.get_by_text("Сервис сейчас перегружен")).to_be_hidden()


def test_a_throttled_login_says_how_long_to_wait(page, size):
    page.route(
        re.compile(r"/api/v1/auth/login$"),
        lambda route: route.fulfill(
            **problem(429, "too_many_requests", retry_after=30), headers={"Retry-After": "30"}
        ),
    )
    page.goto("/login")
    page.get_by_label("Электронная почта").fill("someone@example.ru")
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Войти").click()
    wait = "Слишком много попыток подряд. Подождите 30 с и повторите."
    expect(page.get_by_text(wait)).to_be_visible()


def test_parent_registers_applies_is_enrolled_and_cancels(page, pages, world, size):
    email = f"portal-{uuid.uuid4().hex[:10]}@example.ru"
    page.goto("/register")
    page.get_by_label("Фамилия, имя, отчество").fill("Иванова Анна Сергеевна")
    page.get_by_label("Электронная почта").fill(email)
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Зарегистрироваться").click()
    expect(page.locator("#consent-error")).to_be_visible()  # no consent, no account
    pages.check(page, "register")
    page.get_by_label(re.compile("согласен")).check()
    page.get_by_role("button", name="Зарегистрироваться").click()
    page.wait_for_url("**/children/new")

    # only a confirmed address may apply (issue 24): the parent follows the letter's link
    (letter,) = MailServer(Path(world["maildir"])).wait_for(1, to=email)
    link = re.search(r"/verify-email\?token=[\w-]+", text_of(letter)).group(0)
    page.goto(link)
    expect(page.get_by_text("Адрес подтверждён.")).to_be_visible()
    pages.check(page, "verify-email")
    page.goto(link)  # a link works once; the parent, confirmed, is told so
    expect(page.get_by_text("Ссылка недействительна")).to_be_visible()
    expect(page.get_by_text("Ваш адрес уже подтверждён.")).to_be_visible()

    # the session survives a full load of a page: the access token is in memory only,
    # refreshed (and now says the address is confirmed)
    page.goto("/children/new")
    expect(page.get_by_role("button", name="Выйти")).to_be_visible()

    # a child; a wrong SNILS gets the API's message under the SNILS field
    page.get_by_label("Фамилия", exact=True).fill("Иванов")
    page.get_by_label("Имя", exact=True).fill("Пётр")
    page.get_by_label("Дата рождения").fill("2017-03-01")
    page.get_by_label("Пол").select_option("male")
    page.get_by_label("СНИЛС").fill("123-456-789 00")
    page.get_by_label("Серия свидетельства о рождении").fill("IV-БА")
    page.get_by_label("Номер свидетельства о рождении").fill("123456")
    page.get_by_label("Где живёт ребёнок").select_option("krasnoyarsk")
    page.get_by_role("button", name="Добавить").click()
    expect(page.locator("#snils-error")).to_be_visible()
    pages.check(page, "child")
    page.get_by_label("СНИЛС").fill(fresh_snils())
    page.get_by_role("button", name="Добавить").click()
    page.wait_for_url("**/children")
    edit = page.get_by_role("link", name="Изменить данные Пётр")
    child_id = int(edit.get_attribute("href").rsplit("/", 1)[1])
    pages.check(page, "children")
    edit.click()
    expect(page.get_by_label("СНИЛС")).not_to_have_value("")
    page.get_by_label("Отчество (если есть)").fill("Сергеевич")
    page.get_by_role("button", name="Сохранить").click()
    expect(page.get_by_text("Сохранено.")).to_be_visible()

    # quote and apply, with consent to the co-payment
    page.goto(f"/programs/{world['programs'][0]}")
    page.get_by_role("button", name="Рассчитать стоимость для Пётр").click()
    expect(page.get_by_text("Доплата родителя")).to_be_visible()
    apply = page.get_by_role("button", name="Записаться")
    expect(apply).to_be_disabled()
    page.get_by_label(re.compile("Согласен\\(на\\) доплачивать")).check()
    apply.click()
    expect(page.get_by_text("Заявка отправлена")).to_be_visible()
    pages.check(page, "quote")

    # the provider confirms, through the API
    provider = world["provider_token"]

    def awaiting():
        answer = api(
            world,
            "GET",
            f"/enrollments?group_id={world['groups'][0]}&child_id={child_id}",
            provider,
        )
        items = [e for e in answer.json()["items"] if e["status"] == "awaiting_provider"]
        return items[0] if items else None

    application = wait_for(awaiting, 20, "the application awaiting the provider", interval=0.3)
    confirmed = api(world, "POST", f"/enrollments/{application['id']}/confirm", provider)
    assert confirmed.status_code == 200, confirmed.text

    page.goto("/applications")
    expect(page.get_by_text("Зачислен", exact=True)).to_be_visible()
    pages.check(page, "applications")
    page.goto("/certificates")
    expect(page.get_by_text("Сертификат финансирования")).to_be_visible()
    reserved = page.locator("dt:has-text('Зарезервировано') + dd")
    expect(reserved).not_to_have_text("0,00\u00a0₽")
    pages.check(page, "certificates")
    page.goto("/contracts")
    first_month = application["start_date"][:7]
    expect(page.get_by_role("cell", name=_month_name(first_month))).to_be_visible()
    pages.check(page, "contracts")

    # the reserve is the history's first line (the debit after a billing run: the journey
    # below, on a system of its own whose clock is past the month's deadline)
    page.goto("/certificates")
    page.get_by_role("link", name="История операций").click()
    expect(page.get_by_role("cell", name=re.compile("^Резерв"))).to_be_visible()

    # another application, then cancelled by the parent
    page.goto(f"/programs/{world['programs'][1]}")
    page.get_by_role("button", name="Рассчитать стоимость для Пётр").click()
    expect(page.get_by_text("Доплата родителя")).to_be_visible()
    consent = page.get_by_label(re.compile("Согласен\\(на\\) доплачивать"))
    if consent.count():  # what is left on the certificate may not cover this one
        consent.check()
    page.get_by_role("button", name="Записаться").click()
    expect(page.get_by_text("Заявка отправлена")).to_be_visible()
    page.goto("/applications")
    page.get_by_role("button", name="Отменить заявку").first.click()
    expect(page.get_by_text("Отменена", exact=True)).to_be_visible()

    # logout; a cabinet page sends to login and back
    page.get_by_role("button", name="Выйти").click()
    expect(page.get_by_role("link", name="Войти")).to_be_visible()
    page.goto("/applications")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_label("Электронная почта").fill(email)
    page.get_by_label("Пароль").fill("wrong-password-1")
    page.get_by_role("button", name="Войти").click()
    expect(page.get_by_text("Неверная почта или пароль.")).to_be_visible()
    pages.check(page, "login")
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Войти").click()
    page.wait_for_url("**/applications")
    expect(page.get_by_text("Зачислен", exact=True)).to_be_visible()

    # the same e-mail again: 409, and the page says what to do
    page.get_by_role("button", name="Выйти").click()
    expect(page.get_by_role("link", name="Регистрация")).to_be_visible()
    page.goto("/register")
    page.get_by_label("Фамилия, имя, отчество").fill("Иванова Анна Сергеевна")
    page.get_by_label("Электронная почта").fill(email)
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_label(re.compile("согласен")).check()
    page.get_by_role("button", name="Зарегистрироваться").click()
    expect(page.get_by_text("Эта почта уже зарегистрирована.")).to_be_visible()


def test_parent_who_forgot_the_password_sets_a_new_one(page, pages, world, size):
    email = f"reset-{uuid.uuid4().hex[:10]}@example.ru"
    registered = requests.post(
        f"{world['base_url']}/api/v1/auth/register",
        json={
            "full_name": "Сидорова Мария Ивановна",
            "email": email,
            "password": PASSWORD,
            "consent_personal_data": True,
        },
        timeout=20,
    )
    assert registered.status_code == 201, registered.text
    page.goto("/login")
    page.get_by_role("link", name="Забыли пароль?").click()
    page.get_by_label("Электронная почта").fill(email)
    page.get_by_role("button", name="Отправить ссылку").click()
    expect(page.get_by_text(f"Если учётная запись с адресом {email} существует")).to_be_visible()
    pages.check(page, "password-reset")

    def reset_link():
        letters = MailServer(Path(world["maildir"])).messages(email)
        found = [re.search(r"/password-reset\?token=[\w-]+", text_of(m)) for m in letters]
        return next((f.group(0) for f in found if f), None)

    page.goto(wait_for(reset_link, 20, "the reset letter", interval=0.3))
    page.get_by_label("Новый пароль").fill("short")
    page.get_by_role("button", name="Сохранить пароль").click()
    expect(page.locator("#password-error")).to_be_visible()  # the API's message, under the field
    pages.check(page, "new-password")
    page.get_by_label("Новый пароль").fill("Another-Horse-43")
    page.get_by_role("button", name="Сохранить пароль").click()
    expect(page.get_by_text("Пароль изменён.")).to_be_visible()
    page.get_by_role("link", name="Войти", exact=True).last.click()
    page.get_by_label("Электронная почта").fill(email)
    page.get_by_label("Пароль").fill("Another-Horse-43")
    page.get_by_role("button", name="Войти").click()
    page.wait_for_url("**/applications")


def _month_name(month: str) -> str:
    names = ["Январь", "Февраль", "Март", "Апрель", "Май", "Июнь", "Июль", "Август",
             "Сентябрь", "Октябрь", "Ноябрь", "Декабрь"]  # fmt: skip
    year, number = month.split("-")
    return f"{names[int(number) - 1]} {year}"


def test_after_a_billing_run_the_debit_shows_in_the_history_and_the_balance(page, pages, world):
    """Billed once by tests/e2e/test_portal.py (lessons of the month recorded, the clock moved
    past its submission deadline, a billing run through the API), looked at at each size."""
    billed = world["billed"]
    spent = billed["certificate_charged"].replace(".", "")  # "6000.00": the digits of "6 000,00 ₽"

    def at(path: str) -> str:
        return f"{billed['base_url']}{path}"

    page.goto(at("/login?next=/certificates"))
    page.get_by_label("Электронная почта").fill(billed["email"])
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Войти").click()
    page.wait_for_url(at("/certificates"))
    balance = page.locator("dt:has-text('Потрачено') + dd")
    expect(balance).not_to_have_text("0,00\u00a0₽")
    assert re.sub(r"\D", "", balance.inner_text()) == spent, balance.inner_text()
    page.get_by_role("link", name="История операций").click()
    debit = f"Списание, {_month_name(billed['month']).lower()}"
    expect(page.get_by_role("cell", name=debit, exact=True)).to_be_visible()
    expect(page.get_by_text("Шахматы для начинающих —").first).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile("^Резерв"))).to_be_visible()
    pages.check(page, "history")


def test_swagger_ui_runs_from_the_portals_own_files(page, world, size):
    if size == "phone":
        return  # one look is enough; the page is the API's, not a parent's
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto("/api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Navigator API")
    expect(page.get_by_text("/api/v1/catalog/search").first).to_be_visible()
    assert all(url.startswith(world["base_url"]) for url in asked), asked  # no CDN
