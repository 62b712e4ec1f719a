"""Accounts: registration, login, tokens, staff and children.

Who may call a route is its `roles`; whose child it is the accounts service decides (it alone
knows), answering 404 for a child that is not the caller's, so its existence does not leak.
"""

from datetime import date

from werkzeug.wrappers import Response

from contracts.roles import OPERATORS, PARENT, PROVIDER
from gateway.accounts_schemas import (
    AcceptedSchema,
    ChildChangeSchema,
    ChildCreateSchema,
    ChildSchema,
    LoginSchema,
    PasswordResetConfirmSchema,
    PasswordResetSchema,
    ProviderRegisterSchema,
    RefreshTokenSchema,
    RegisterSchema,
    StaffCreateSchema,
    TokensSchema,
    UserSchema,
    VerifiedSchema,
    VerifyEmailSchema,
)
from gateway.http import ANY_ROLE, API, PageQuery, page_of, route
from gateway.proxies import client_address

RESET_ANSWER = (
    "Если этот адрес зарегистрирован, на него отправлено письмо со ссылкой для смены пароля"
)
CHILD = "<int(min=1,max=2147483647):child_id>"


def _plain(body: dict) -> dict:
    """Loaded values as JSON for RPC: dates travel as ISO strings."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in body.items()}


class AccountsRoutes:
    @route(
        "POST",
        f"{API}/auth/register",
        summary="A parent registers",
        tags=["accounts"],
        body=RegisterSchema,
        response=UserSchema,
        status=201,
        errors=(409, 422, 429),
        description="409 when the e-mail is already registered; 429 with Retry-After after "
        "too many registrations from one address.",
        operation_id="registerParent",
    )
    def register(self, call):
        return self.rpc.call("accounts", "register", call.body, client_address(call.request))

    @route(
        "POST",
        f"{API}/auth/register-provider",
        summary="A new provider registers their organization and themselves as its first staff",
        tags=["accounts"],
        body=ProviderRegisterSchema,
        response=UserSchema,
        status=201,
        errors=(409, 422, 429, 503),
        description="The organization waits, `pending`, for the regional operator's approval "
        "(INN with check digits, a municipality of the region); the person logs in as its "
        "provider staff at once and gets a confirmation letter. 409 when the e-mail or the "
        "INN is already registered; 429 with Retry-After after too many registrations from "
        "one address (the parents' limit, shared).",
        operation_id="registerProvider",
    )
    def register_provider(self, call):
        body = dict(call.body)
        organization = {
            "name": body.pop("organization_name"),
            "inn": body.pop("inn"),
            "municipality_code": body.pop("municipality_code"),
            "address": body.pop("address"),
            "phone": body.pop("organization_phone", None),
            "email": body.pop("organization_email", None),
            "website": body.pop("website", None),
        }
        return self.rpc.call(
            "accounts",
            "register_provider",
            {**body, "organization": organization},
            client_address(call.request),
        )

    @route(
        "POST",
        f"{API}/auth/login",
        summary="Log in with e-mail and password",
        tags=["accounts"],
        body=LoginSchema,
        response=TokensSchema,
        errors=(401, 422, 429),
        idempotent=False,
        description="Repeated failures for one account or from one address are answered "
        "429 with Retry-After.",
    )
    def login(self, call):
        body = call.body
        return self.rpc.call(
            "accounts", "login", body["email"], body["password"], client_address(call.request)
        )

    @route(
        "POST",
        f"{API}/auth/refresh",
        summary="A new token pair for a refresh token (which is used up)",
        tags=["accounts"],
        body=RefreshTokenSchema,
        response=TokensSchema,
        errors=(401, 422),
        idempotent=False,
        description="The same refresh token presented again within a short grace period "
        "(two tabs) gets the same new pair; presented after it, every token of its login is "
        "revoked.",
        operation_id="refreshTokens",
    )
    def refresh(self, call):
        return self.rpc.call("accounts", "refresh", call.body["refresh_token"])

    @route(
        "POST",
        f"{API}/auth/logout",
        summary="End the login a refresh token belongs to",
        tags=["accounts"],
        body=RefreshTokenSchema,
        status=204,
        errors=(422,),
        idempotent=False,
    )
    def logout(self, call):
        self.rpc.call("accounts", "logout", call.body["refresh_token"])
        return Response(status=204)

    @route(
        "POST",
        f"{API}/auth/verify-email",
        summary="Confirm the e-mail address with the token from the letter",
        tags=["accounts"],
        body=VerifyEmailSchema,
        response=VerifiedSchema,
        errors=(422, 429),
        idempotent=False,
        description="The token works once and until it expires (72 hours); otherwise 422 "
        "`invalid_token`. Refresh the access token afterwards: applying needs a confirmed "
        "address.",
    )
    def verify_email(self, call):
        return self.rpc.call(
            "accounts", "verify_email", call.body["token"], client_address(call.request)
        )

    @route(
        "POST",
        f"{API}/auth/verify-email/resend",
        summary="Mail the confirmation link again",
        tags=["accounts"],
        roles=(PARENT,),
        response=AcceptedSchema,
        status=202,
        errors=(429,),
        idempotent=False,
        description="For a logged-in parent whose address is not confirmed yet (a confirmed "
        "one gets no letter); 5 an hour, then 429.",
    )
    def resend_confirmation(self, call):
        self.rpc.call("accounts", "resend_email_confirmation", call.principal.as_rpc())
        return {"message": "Если адрес ещё не подтверждён, на него отправлено новое письмо"}

    @route(
        "POST",
        f"{API}/auth/password-reset",
        summary="Ask for a password reset link by e-mail",
        tags=["accounts"],
        body=PasswordResetSchema,
        response=AcceptedSchema,
        status=202,
        errors=(422, 429),
        idempotent=False,
        description="The same 202 whether the address is registered or not; a registered one "
        "gets a letter with a link valid one hour. 429 with Retry-After after too many "
        "requests for one address or from one client.",
    )
    def password_reset(self, call):
        self.rpc.call(
            "accounts", "request_password_reset", call.body["email"], client_address(call.request)
        )
        return {"message": RESET_ANSWER}

    @route(
        "POST",
        f"{API}/auth/password-reset/confirm",
        summary="Set a new password with the token from the reset letter",
        tags=["accounts"],
        body=PasswordResetConfirmSchema,
        status=204,
        errors=(422, 429),
        idempotent=False,
        description="The token works once and for one hour (422 `invalid_token` otherwise); "
        "every refresh token of the account is revoked, so every login ends.",
    )
    def password_reset_confirm(self, call):
        body = call.body
        self.rpc.call(
            "accounts", "confirm_password_reset", body["token"], body["password"],
            client_address(call.request),
        )  # fmt: skip
        return Response(status=204)

    @route(
        "GET",
        f"{API}/me",
        summary="The caller: account, role, organization or municipality",
        tags=["accounts"],
        roles=ANY_ROLE,
        response=UserSchema,
        errors=(404,),
        operation_id="getCurrentUser",
    )
    def me(self, call):
        return self.rpc.call("accounts", "me", call.principal.as_rpc())

    @route(
        "POST",
        f"{API}/staff",
        summary="Create a staff user",
        tags=["accounts"],
        roles=OPERATORS,
        body=StaffCreateSchema,
        response=UserSchema,
        status=201,
        errors=(403, 409, 422, 503),
        description="A regional operator creates any staff; a municipal operator creates "
        "providers' staff of organizations in its municipality.",
    )
    def create_staff(self, call):
        return self.rpc.call("accounts", "create_staff", call.principal.as_rpc(), call.body)

    @route(
        "POST",
        f"{API}/children",
        summary="A parent adds a child",
        tags=["children"],
        roles=(PARENT,),
        body=ChildCreateSchema,
        response=ChildSchema,
        status=201,
        errors=(409, 422, 429, 503),
        description="409 when a child with this SNILS is already registered; after a few such "
        "answers in an hour, 429 with Retry-After.",
        operation_id="createChild",
    )
    def add_child(self, call):
        return self.rpc.call("accounts", "add_child", call.principal.as_rpc(), _plain(call.body))

    @route(
        "GET",
        f"{API}/children",
        summary="Children the caller may see",
        tags=["children"],
        roles=(PARENT, *OPERATORS),
        query=PageQuery,
        response=page_of(ChildSchema),
        description="A parent's own children; a municipal operator's municipality's "
        "(masked); every child for the regional operator.",
    )
    def list_children(self, call):
        return self.rpc.call(
            "accounts",
            "list_children",
            call.principal.as_rpc(),
            call.query["limit"],
            call.query["offset"],
        )

    @route(
        "GET",
        f"{API}/children/{CHILD}",
        summary="One child",
        tags=["children"],
        roles=ANY_ROLE,
        response=ChildSchema,
        errors=(404,),
        description="404 for a child the caller may not see. A provider sees (masked) only "
        "the children who applied to its organization.",
        operation_id="getChild",
    )
    def show_child(self, call, child_id):
        return self.rpc.call("accounts", "show_child", call.principal.as_rpc(), child_id)

    @route(
        "PATCH",
        f"{API}/children/{CHILD}",
        summary="The parent changes their child's data",
        tags=["children"],
        roles=(PARENT,),
        body=ChildChangeSchema,
        response=ChildSchema,
        errors=(404, 409, 422, 429, 503),
        description="Changing data a provider verified clears the verified mark. 409 when "
        "another child has the SNILS; every SNILS checked counts, and past the hourly "
        "limit the answer is 429 whether or not it is taken. 409 "
        "`certificate_money_reserved` for a birth date or municipality while money is reserved "
        "on the child's certificate (the certificate keeps those of its issue).",
        operation_id="updateChild",
    )
    def change_child(self, call, child_id):
        return self.rpc.call(
            "accounts", "change_child", call.principal.as_rpc(), child_id, _plain(call.body)
        )

    @route(
        "POST",
        f"{API}/children/{CHILD}/verify",
        summary="A provider confirms the child's data against the documents",
        tags=["children"],
        roles=(PROVIDER,),
        response=ChildSchema,
        errors=(403, 404, 503),
        description="403 `organization_not_active` while the provider's organization is "
        "suspended or not approved; 404 for a child who never applied to it.",
        operation_id="verifyChild",
    )
    def verify_child(self, call, child_id):
        return self.rpc.call("accounts", "verify_child", call.principal.as_rpc(), child_id)
