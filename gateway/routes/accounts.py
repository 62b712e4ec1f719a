"""Accounts: registration, login, tokens, staff and children.

Who may call a route is its `roles`; whose child it is the accounts service decides (it alone
knows), answering 404 for a child that is not the caller's, so its existence does not leak.
"""

from datetime import date

from werkzeug.wrappers import Response

from contracts.roles import OPERATORS, PARENT, PROVIDER
from gateway.accounts_schemas import (
    ChildChangeSchema,
    ChildCreateSchema,
    ChildSchema,
    LoginSchema,
    RefreshTokenSchema,
    RegisterSchema,
    StaffCreateSchema,
    TokensSchema,
    UserSchema,
)
from gateway.http import ANY_ROLE, API, PageQuery, client_address, page_of, route

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
    )
    def register(self, call):
        return self.rpc.call("accounts", "register", call.body, client_address(call.request))

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
        "GET",
        f"{API}/me",
        summary="The caller: account, role, organization or municipality",
        tags=["accounts"],
        roles=ANY_ROLE,
        response=UserSchema,
        errors=(404,),
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
        "another child has the SNILS; after a few such answers in an hour, 429. 409 "
        "`certificate_money_reserved` for a birth date or municipality while money is reserved "
        "on the child's certificate (the certificate keeps those of its issue).",
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
    )
    def verify_child(self, call, child_id):
        return self.rpc.call("accounts", "verify_child", call.principal.as_rpc(), child_id)
