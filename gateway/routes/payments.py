"""Payments: attendance, billing runs, invoices, reports and the parent's view.

Roles are checked here; whose group, invoice or report it is the payments service decides
(403 for something visible that is not the caller's, 404 for what they may not know of).
Whose child it is accounts decides, before payments is asked.
"""

import base64
import logging
import re

from werkzeug.wrappers import Response

from contracts import roles
from gateway.http import API, page_of, route
from gateway.payments_schemas import (
    BillingSettingsInSchema,
    BillingSettingsSchema,
    ChildPaymentsSchema,
    CompletenessModeSchema,
    CompletenessSettingSchema,
    GroupMonthSchema,
    InvoiceQuery,
    InvoiceSchema,
    LessonsInSchema,
    LessonsRecordedSchema,
    MonthQuery,
    RegisterSchema,
    ReportQuery,
    ReportSchema,
    RunCreateSchema,
    RunSchema,
)
from servicekit.errors import Forbidden, NavigatorError, NotFound

log = logging.getLogger(__name__)

ID = "<int(min=1,max=2147483647):{}>"
GROUP = f"{API}/groups/{ID.format('group_id')}"
MUNICIPALITY = f"{API}/municipalities/<municipality_code>"
_CODE = re.compile(r"^[a-z0-9-]{1,64}$")
PROVIDER = (roles.PROVIDER,)
REGIONAL = (roles.REGIONAL_OPERATOR,)
MUNICIPAL = (roles.MUNICIPAL_OPERATOR,)
PARENT = (roles.PARENT,)
OPERATORS = roles.OPERATORS
STAFF = roles.STAFF_ROLES


def municipality(code: str) -> str:
    if not _CODE.match(code):
        raise NotFound("Нет такого муниципалитета", code="municipality_not_found")
    return code


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(body: bytes, content_type: str, name: str) -> Response:
    return Response(
        body,
        status=200,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def xlsx_download(encoded: str, name: str) -> Response:
    return attachment(base64.b64decode(encoded), XLSX, name)


def csv_download(text: str, name: str) -> Response:
    return attachment(text.encode("utf-8"), "text/csv; charset=utf-8", name)


class PaymentsRoutes:
    def _require_active_organization(self, organization_id: int | None) -> None:
        """A provider records lessons only while its organization is active, as the catalog
        has it now: suspended, or sent back to approval by an edit, it is 403 (payments keeps
        no copy of an organization's status)."""
        try:
            organization = self.rpc.call("catalog", "get_organization", organization_id)
        except NotFound:
            organization = None
        if organization is None or organization.get("status") != "active":
            raise Forbidden(
                "Организация поставщика не действует (приостановлена или не подтверждена)",
                code="organization_not_active",
            )

    # --- attendance ---------------------------------------------------------------------

    @route(
        "POST",
        f"{GROUP}/lessons",
        summary="Record or correct the group's lessons and who was present (in bulk)",
        tags=["attendance"],
        roles=PROVIDER,
        body=LessonsInSchema,
        response=LessonsRecordedSchema,
        description="A lesson is its date and start (the schedule's by default); recording "
        "it again corrects it. A held lesson's children not marked present are absent. "
        "422 `lesson_in_future` for a lesson dated after today; 409 `submission_closed` "
        "after the month's submission deadline (the paying municipalities' setting, by "
        "default the 3rd working day of the next month), 409 `month_billed` once the "
        "month's billing has started; 403 `organization_not_active` while the provider's "
        "organization is suspended or waiting for approval.",
        operation_id="recordGroupLessons",
    )
    def record_lessons(self, call, group_id):
        self._require_active_organization(call.principal.organization_id)
        return self.rpc.call(
            "payments", "record_lessons", call.principal.as_rpc(), group_id, call.body["lessons"]
        )

    @route(
        "GET",
        f"{GROUP}/lessons",
        summary="A group's lessons of a month and each child's completeness",
        tags=["attendance"],
        roles=STAFF,
        query=MonthQuery,
        response=GroupMonthSchema,
        operation_id="listGroupLessons",
    )
    def group_lessons(self, call, group_id):
        return self.rpc.call(
            "payments", "group_month", call.principal.as_rpc(), group_id, call.query["month"]
        )

    @route(
        "PUT",
        f"{MUNICIPALITY}/completeness",
        summary="How the municipality measures completeness: lessons held or attended",
        tags=["attendance"],
        roles=OPERATORS,
        body=CompletenessModeSchema,
        response=CompletenessSettingSchema,
        description="`delivered` (default): lessons held over lessons scheduled; `attended`: "
        "lessons the child attended over lessons held. Applies to months billed afterwards.",
        operation_id="setMunicipalityCompleteness",
    )
    def set_completeness(self, call, municipality_code):
        return self.rpc.call(
            "payments",
            "set_completeness_mode",
            call.principal.as_rpc(),
            municipality(municipality_code),
            call.body["completeness_mode"],
        )

    @route(
        "GET",
        f"{MUNICIPALITY}/billing-settings",
        summary="The municipality's billing rules: completeness, submission deadline, "
        "unrecorded months",
        tags=["billing"],
        roles=OPERATORS,
        response=BillingSettingsSchema,
    )
    def billing_settings(self, call, municipality_code):
        return self.rpc.call(
            "payments",
            "billing_settings",
            call.principal.as_rpc(),
            municipality(municipality_code),
        )

    @route(
        "PATCH",
        f"{MUNICIPALITY}/billing-settings",
        summary="Change the municipality's billing rules (fields not sent keep their value)",
        tags=["billing"],
        roles=OPERATORS,
        body=BillingSettingsInSchema,
        response=BillingSettingsSchema,
        description="`submission_workday` (1-20, default 3): attendance of a month can be "
        "corrected until that working day (Mon-Fri; public holidays are not modelled) of "
        "the next month; the month is billed after it. `unrecorded_percent` (0-100, default "
        "100): the share of the plan billed for a month in which the provider recorded no "
        "lesson of the group. Applies to months billed afterwards.",
    )
    def set_billing_settings(self, call, municipality_code):
        return self.rpc.call(
            "payments",
            "set_billing_settings",
            call.principal.as_rpc(),
            municipality(municipality_code),
            call.body,
        )

    # --- billing ------------------------------------------------------------------------

    @route(
        "POST",
        f"{API}/billing/runs",
        summary="Bill a month (or get its unfinished run)",
        tags=["billing"],
        roles=REGIONAL,
        body=RunCreateSchema,
        response=RunSchema,
        status=202,
        description="Runs in the background; follow it with GET /billing/runs/{id}. Each "
        "contract is charged once per month whatever the number of runs. A month is billed "
        "once it has ended and its submission deadline has passed: 409 `month_not_over` "
        "before. The calendar starts it by itself the day after the deadline.",
    )
    def start_billing_run(self, call):
        return self.rpc.call(
            "payments", "start_billing_run", call.principal.as_rpc(), call.body["month"]
        )

    @route(
        "GET",
        f"{API}/billing/runs/{ID.format('run_id')}",
        summary="A billing run and its progress",
        tags=["billing"],
        roles=REGIONAL,
        response=RunSchema,
    )
    def get_billing_run(self, call, run_id):
        return self.rpc.call("payments", "get_billing_run", run_id)

    # --- invoices -----------------------------------------------------------------------

    @route(
        "GET",
        f"{API}/invoices",
        summary="Invoices: a provider its own, a municipal operator its municipality's",
        tags=["invoices"],
        roles=STAFF,
        query=InvoiceQuery,
        response=page_of(InvoiceSchema),
    )
    def list_invoices(self, call):
        filters = {k: call.query[k] for k in ("month", "kind", "status") if k in call.query}
        return self.rpc.call(
            "payments",
            "list_invoices",
            call.principal.as_rpc(),
            filters,
            call.query["limit"],
            call.query["offset"],
        )

    @route(
        "POST",
        f"{API}/invoices/{ID.format('invoice_id')}/pay",
        summary="Mark an invoice of your municipality paid",
        tags=["invoices"],
        roles=MUNICIPAL,
        response=InvoiceSchema,
        description="409 `invoice_paid` when it is paid already.",
    )
    def pay_invoice(self, call, invoice_id):
        return self.rpc.call("payments", "pay_invoice", call.principal.as_rpc(), invoice_id)

    @route(
        "GET",
        f"{API}/invoices/{ID.format('invoice_id')}/contracts",
        summary="The invoice's register: the contracts it is for, planned and debited",
        tags=["invoices"],
        roles=STAFF,
        response=RegisterSchema,
        description="Whoever sees the invoice sees its register (404 otherwise).",
    )
    def invoice_contracts(self, call, invoice_id):
        return self.rpc.call("payments", "invoice_contracts", call.principal.as_rpc(), invoice_id)

    @route(
        "GET",
        f"{API}/invoices/{ID.format('invoice_id')}/contracts.csv",
        summary="The invoice's register as CSV (UTF-8 with BOM, `;`, decimal comma)",
        tags=["invoices"],
        roles=STAFF,
        operation_id="getInvoiceContractsCsv",
        content_type="text/csv",
    )
    def invoice_contracts_csv(self, call, invoice_id):
        text = self.rpc.call(
            "payments", "invoice_contracts_csv", call.principal.as_rpc(), invoice_id
        )
        return csv_download(text, f"invoice-{invoice_id}-contracts.csv")

    # --- reports ------------------------------------------------------------------------

    @route(
        "GET",
        f"{API}/reports/region",
        summary="The region's report (JSON)",
        tags=["reports"],
        roles=REGIONAL,
        query=ReportQuery,
        response=ReportSchema,
        operation_id="getRegionReport",
    )
    def region_report(self, call):
        return self.rpc.call(
            "payments", "report", call.principal.as_rpc(), None, call.query.get("month")
        )

    @route(
        "GET",
        f"{API}/reports/region.csv",
        summary="The region's report as CSV (UTF-8 with BOM, `;`, decimal comma)",
        tags=["reports"],
        roles=REGIONAL,
        query=ReportQuery,
        operation_id="getRegionReportCsv",
        content_type="text/csv",
    )
    def region_report_csv(self, call):
        text = self.rpc.call(
            "payments", "report_csv", call.principal.as_rpc(), None, call.query.get("month")
        )
        return csv_download(text, f"region-{call.query.get('month', 'all')}.csv")

    @route(
        "GET",
        f"{API}/reports/region.xlsx",
        summary="The region's report as an XLSX workbook (Russian headers, numbers as numbers)",
        tags=["reports"],
        roles=REGIONAL,
        query=ReportQuery,
        operation_id="getRegionReportXlsx",
        content_type=XLSX,
    )
    def region_report_xlsx(self, call):
        book = self.rpc.call(
            "payments", "report_xlsx", call.principal.as_rpc(), None, call.query.get("month")
        )
        return xlsx_download(book, f"region-{call.query.get('month', 'all')}.xlsx")

    @route(
        "GET",
        f"{MUNICIPALITY}/report",
        summary="A municipality's report as payer (JSON)",
        tags=["reports"],
        roles=OPERATORS,
        query=ReportQuery,
        response=ReportSchema,
        operation_id="getMunicipalityReport",
    )
    def municipality_report(self, call, municipality_code):
        return self.rpc.call(
            "payments",
            "report",
            call.principal.as_rpc(),
            municipality(municipality_code),
            call.query.get("month"),
        )

    @route(
        "GET",
        f"{MUNICIPALITY}/report.csv",
        summary="A municipality's report as CSV (UTF-8 with BOM, `;`, decimal comma)",
        tags=["reports"],
        roles=OPERATORS,
        query=ReportQuery,
        operation_id="getMunicipalityReportCsv",
        content_type="text/csv",
    )
    def municipality_report_csv(self, call, municipality_code):
        code = municipality(municipality_code)
        text = self.rpc.call(
            "payments", "report_csv", call.principal.as_rpc(), code, call.query.get("month")
        )
        return csv_download(text, f"{code}-{call.query.get('month', 'all')}.csv")

    @route(
        "GET",
        f"{MUNICIPALITY}/report.xlsx",
        summary="A municipality's report as an XLSX workbook (Russian headers, numbers as numbers)",
        tags=["reports"],
        roles=OPERATORS,
        query=ReportQuery,
        operation_id="getMunicipalityReportXlsx",
        content_type=XLSX,
    )
    def municipality_report_xlsx(self, call, municipality_code):
        code = municipality(municipality_code)
        book = self.rpc.call(
            "payments", "report_xlsx", call.principal.as_rpc(), code, call.query.get("month")
        )
        return xlsx_download(book, f"{code}-{call.query.get('month', 'all')}.xlsx")

    # --- the parent's view --------------------------------------------------------------

    @route(
        "GET",
        f"{API}/children/{ID.format('child_id')}/payments",
        summary="A child's contracts: schedule, monthly charges, certificate balance",
        tags=["payments"],
        roles=PARENT,
        response=ChildPaymentsSchema,
        description="404 for a child that is not yours. `balance` is null while the "
        "certificates service cannot tell.",
        operation_id="listChildPayments",
    )
    def child_payments(self, call, child_id):
        principal = call.principal.as_rpc()
        self.rpc.call("accounts", "show_child", principal, child_id)  # 404 if not theirs
        contracts = self.rpc.call("payments", "child_payments", child_id)
        try:
            balance = self.rpc.call("certificates", "get_balance", child_id)
        except NotFound:
            balance = None
        except NavigatorError as error:
            log.warning("certificates.get_balance failed: %s", error)
            balance = None
        except Exception as error:  # noqa: BLE001 - e.g. an older certificates without it
            log.warning("certificates.get_balance failed: %r", error)
            balance = None
        return {"child_id": child_id, "contracts": contracts, "balance": balance}
