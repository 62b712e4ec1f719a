"""Certificates: what parents see of their children's certificates, and what operators do
with periods, nominals, limits, the queue and freezing.

Who may call a route is its `roles`; whose certificate it is the certificates service
decides (it stores the parent and the municipality of each), answering 404 for one the caller
may not see. A provider has nothing here.
"""

from contracts.roles import OPERATORS, PARENT, REGIONAL_OPERATOR
from gateway.certificates_schemas import (
    CertificateListQuery,
    CertificateSchema,
    FundingSchema,
    LimitSchema,
    NominalChangeSchema,
    NominalsSchema,
    PeriodClosedSchema,
    PeriodCreateSchema,
    PeriodListSchema,
    PeriodSchema,
    QueueItemSchema,
    SettingsChangeSchema,
    SettingsSchema,
    TransactionSchema,
)
from gateway.http import API, PageQuery, page_of, route

PERIOD = "<int(min=1,max=2147483647):period_id>"
CHILD = "<int(min=1,max=2147483647):child_id>"
CERTIFICATE = f"{API}/certificates/<number>"
FUNDING = f"{API}/municipalities/<code>/periods/{PERIOD}"
VIEWERS = (PARENT, *OPERATORS)
REGIONAL = (REGIONAL_OPERATOR,)


def _plain(body: dict) -> dict:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in body.items()}


class CertificateRoutes:
    # --- periods --------------------------------------------------------------------------

    @route(
        "GET",
        f"{API}/periods",
        summary="Periods (program years) with their dates and status",
        tags=["certificates"],
        response=PeriodListSchema,
    )
    def list_periods(self, call):
        return {"items": self.rpc.call("certificates", "list_periods")}

    @route(
        "POST",
        f"{API}/periods",
        summary="The regional operator opens a period",
        tags=["certificates"],
        roles=REGIONAL,
        body=PeriodCreateSchema,
        response=PeriodSchema,
        status=201,
        errors=(409, 422),
        description="409 `period_overlaps` when it overlaps another period.",
    )
    def open_period(self, call):
        return self.rpc.call("certificates", "open_period", _plain(call.body))

    @route(
        "POST",
        f"{API}/periods/{PERIOD}/close",
        summary="The regional operator closes a period: leftovers expire, the next is credited",
        tags=["certificates"],
        roles=REGIONAL,
        response=PeriodClosedSchema,
        errors=(404, 409),
        description="Only once the period's last day is over (409 `period_not_over` before; "
        "the calendar closes it by itself the day after). Safe to repeat; a run cut short "
        "continues where it stopped.",
    )
    def close_period(self, call, period_id):
        return self.rpc.call("certificates", "close_period", period_id)

    # --- a municipality's nominals, limit and queue ----------------------------------------

    @route(
        "GET",
        f"{FUNDING}/funding",
        summary="A municipality's nominals, limit, nominals handed out and queue length",
        tags=["certificates"],
        roles=OPERATORS,
        response=FundingSchema,
        errors=(403, 404, 422, 503),
        operation_id="getMunicipalityFunding",
    )
    def get_funding(self, call, code, period_id):
        return self.rpc.call(
            "certificates", "get_funding", call.principal.as_rpc(), code, period_id
        )

    @route(
        "PUT",
        f"{FUNDING}/nominals",
        summary="Set the nominal of a financing certificate, optionally per age band",
        tags=["certificates"],
        roles=OPERATORS,
        body=NominalsSchema,
        response=FundingSchema,
        errors=(403, 404, 422, 503),
        description="0 to 100000.00 per band, bands of ages 0-17 that do not overlap. "
        "They apply to certificates financed from `effective_from` (today by default; never "
        "an earlier day) and are recorded with `reason` and the operator. Certificates "
        "already credited keep their nominal. A municipal operator sets its own "
        "municipality's; the regional operator any.",
        operation_id="setMunicipalityNominals",
    )
    def set_nominals(self, call, code, period_id):
        return self.rpc.call(
            "certificates", "set_nominals", call.principal.as_rpc(), code, period_id,
            _plain(call.body),
        )  # fmt: skip

    @route(
        "GET",
        f"{API}/municipalities/<code>/certificate-settings",
        summary="A municipality's certificate settings: nominal mode and free-place allowance",
        tags=["certificates"],
        roles=OPERATORS,
        response=SettingsSchema,
        errors=(403, 404, 503),
    )
    def get_settings(self, call, code):
        return self.rpc.call("certificates", "get_settings", call.principal.as_rpc(), code)

    @route(
        "PUT",
        f"{API}/municipalities/<code>/certificate-settings",
        summary="Change a municipality's certificate settings",
        tags=["certificates"],
        roles=OPERATORS,
        body=SettingsChangeSchema,
        response=SettingsSchema,
        errors=(403, 404, 422, 503),
        description="`nominal_mode`: `full` (a certificate financed mid-period gets the whole "
        "nominal) or `prorated` (the months left of the period, the month of financing "
        "counted). `free_allowance`: free (budget-registry) places a child may hold at a "
        "time, 0-20 (default 2). They apply from now on.",
    )
    def set_settings(self, call, code):
        return self.rpc.call(
            "certificates", "set_settings", call.principal.as_rpc(), code, call.body
        )

    @route(
        "PUT",
        f"{FUNDING}/limit",
        summary="Set the municipality's limit: the total of nominals it may hand out",
        tags=["certificates"],
        roles=OPERATORS,
        body=LimitSchema,
        response=FundingSchema,
        errors=(403, 404, 409, 422, 503),
        description="409 `limit_below_used` under what is handed out. A raise moves the "
        "queue up at once.",
        operation_id="setMunicipalityLimit",
    )
    def set_limit(self, call, code, period_id):
        return self.rpc.call(
            "certificates",
            "set_limit",
            call.principal.as_rpc(),
            code,
            period_id,
            call.body["limit"],
        )

    @route(
        "GET",
        f"{FUNDING}/queue",
        summary="Children waiting for a financing certificate, first come first served",
        tags=["certificates"],
        roles=OPERATORS,
        query=PageQuery,
        response=page_of(QueueItemSchema),
        errors=(403, 404, 422, 503),
        operation_id="listMunicipalityQueue",
    )
    def list_queue(self, call, code, period_id):
        return self.rpc.call(
            "certificates",
            "list_queue",
            call.principal.as_rpc(),
            code,
            period_id,
            call.query["limit"],
            call.query["offset"],
        )

    # --- certificates -----------------------------------------------------------------------

    @route(
        "GET",
        f"{API}/certificates",
        summary="Certificates the caller may see",
        tags=["certificates"],
        roles=VIEWERS,
        query=CertificateListQuery,
        response=page_of(CertificateSchema),
        description="A parent's children's; a municipal operator's municipality's registry; "
        "every certificate for the regional operator.",
    )
    def list_certificates(self, call):
        query = dict(call.query)
        limit, offset = query.pop("limit"), query.pop("offset")
        return self.rpc.call(
            "certificates", "list_certificates", call.principal.as_rpc(), query, limit, offset
        )

    @route(
        "GET",
        CERTIFICATE,
        summary="A certificate with its balance in the current period and its validity",
        tags=["certificates"],
        roles=VIEWERS,
        response=CertificateSchema,
        errors=(404,),
        description="404 for a certificate the caller may not see.",
        operation_id="getCertificate",
    )
    def show_certificate(self, call, number):
        return self.rpc.call("certificates", "show_certificate", call.principal.as_rpc(), number)

    @route(
        "GET",
        f"{CERTIFICATE}/transactions",
        summary="The certificate's ledger: credits, reserves, releases, debits, expiries",
        tags=["certificates"],
        roles=VIEWERS,
        query=PageQuery,
        response=page_of(TransactionSchema),
        errors=(404,),
        description="Newest first, each with its reason and the enrollment it belongs to.",
        operation_id="listCertificateTransactions",
    )
    def list_transactions(self, call, number):
        return self.rpc.call(
            "certificates",
            "list_transactions",
            call.principal.as_rpc(),
            number,
            call.query["limit"],
            call.query["offset"],
        )

    @route(
        "POST",
        f"{CERTIFICATE}/freeze",
        summary="Freeze a certificate: it can neither reserve nor be debited",
        tags=["certificates"],
        roles=OPERATORS,
        response=CertificateSchema,
        errors=(403, 404, 409),
        description="409 `active_contracts` while money is reserved for an enrollment.",
        operation_id="freezeCertificate",
    )
    def freeze(self, call, number):
        return self.rpc.call("certificates", "freeze", call.principal.as_rpc(), number, True)

    @route(
        "POST",
        f"{CERTIFICATE}/unfreeze",
        summary="Unfreeze a certificate",
        tags=["certificates"],
        roles=OPERATORS,
        response=CertificateSchema,
        errors=(403, 404),
        operation_id="unfreezeCertificate",
    )
    def unfreeze(self, call, number):
        return self.rpc.call("certificates", "freeze", call.principal.as_rpc(), number, False)

    @route(
        "PUT",
        f"{CERTIFICATE}/nominal",
        summary="Change this certificate's nominal in the current period",
        tags=["certificates"],
        roles=OPERATORS,
        body=NominalChangeSchema,
        response=CertificateSchema,
        errors=(403, 404, 409, 422),
        description="A raise takes room from the municipal limit (409 `limit_exhausted`); "
        "lowering is refused while money is reserved (409 `active_contracts`) and gives the "
        "room back, which moves the queue up. `reason` is required: the ledger entry carries "
        "it with the operator's id and name.",
        operation_id="setCertificateNominal",
    )
    def change_nominal(self, call, number):
        return self.rpc.call(
            "certificates",
            "change_nominal",
            call.principal.as_rpc(),
            number,
            call.body["amount"],
            call.body["reason"],
        )

    @route(
        "POST",
        f"{API}/children/{CHILD}/certificate",
        summary="A parent asks for their child's certificate (the same one every time)",
        tags=["certificates"],
        roles=(PARENT,),
        response=CertificateSchema,
        errors=(404, 503),
        description="404 for a child that is not the caller's.",
    )
    def request_certificate(self, call, child_id):
        return self.rpc.call(
            "certificates", "request_certificate", call.principal.as_rpc(), child_id
        )
