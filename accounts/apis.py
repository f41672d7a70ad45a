"""REST API of the accounts app under /api/v1/: projects, maintainers, allow-lists,
revocations, the audit trail and API tokens.

Anyone may read; writes need an API token (`Authorization: Bearer sp_...`) or the
portal's session with its CSRF token. Each view validates its input serializer, calls
one service or selector, and renders its output serializer; the services decide who
may do what, so the pages and this API share the rules. Errors are
`{"code", "message"}` (sigportal.errors): accounts.errors keep their code and status.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts import serializers as s
from accounts.authentication import AUTHENTICATION_CLASSES
from accounts.errors import AccountsError
from sigportal.errors import ApiError
from sigportal.schema import errors


def _errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return errors(*statuses, shape=s.ErrorOutput)


_WRITE_ERRORS = _errors(400, 401, 403, 404, 409)


class JsonParser(JSONParser):
    """DRF's JSON parser, but a document nested deeper than the interpreter's recursion
    limit is a 400 rather than a RecursionError (a 500)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("the JSON document is nested too deeply") from None


class AccountsApi(APIView):
    authentication_classes = AUTHENTICATION_CLASSES
    parser_classes = (JsonParser,)
    permission_classes = (IsAuthenticatedOrReadOnly,)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, AccountsError):
            exc = ApiError(exc.status, exc.code, exc.message)
        return super().handle_exception(exc)

    @staticmethod
    def valid(serializer_class: type[s.StrictInput], data: Any) -> dict[str, Any]:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


# --- projects ----------------------------------------------------------------------------


class ProjectsApi(AccountsApi):
    @extend_schema(
        operation_id="listProjects",
        summary="Every project (all are public to read), by slug, a page at a time",
        description="Page with `cursor` = the previous page's `next_cursor`.",
        parameters=[s.ProjectsQueryInput],
        responses={200: s.ProjectPageOutput, **_errors(400)},
    )
    def get(self, request: Request) -> Response:
        query = self.valid(s.ProjectsQueryInput, request.query_params.dict())
        page = selectors.projects_page(query.get("cursor"), query["limit"])
        projects = s.ProjectOutput(page.items, many=True).data
        return Response({"projects": projects, "next_cursor": page.next_cursor})

    @extend_schema(
        operation_id="createProject",
        summary="Create a project; the caller becomes its owner",
        request=s.ProjectCreateInput,
        responses={201: s.ProjectDetailOutput, **_WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = self.valid(s.ProjectCreateInput, request.data)
        project = services.project_create(actor=request.user, **data)
        return Response(_project_detail(request, project), status=201)


def _project_detail(request: Request, project: Any) -> Any:
    role = selectors.project_role(user=request.user, project=project)
    return s.ProjectDetailOutput({**s.ProjectOutput(project).data, "your_role": role}).data


class ProjectApi(AccountsApi):
    @extend_schema(
        operation_id="getProject",
        responses={200: s.ProjectDetailOutput, **_errors(404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(_project_detail(request, selectors.project_by_slug(slug)))

    @extend_schema(
        operation_id="updateProject",
        summary="Change a project's name or description (owners and maintainers)",
        request=s.ProjectUpdateInput,
        responses={200: s.ProjectDetailOutput, **_WRITE_ERRORS},
    )
    def patch(self, request: Request, slug: str) -> Response:
        project = selectors.project_by_slug(slug)
        data = self.valid(s.ProjectUpdateInput, request.data)
        project = services.project_update(actor=request.user, project=project, **data)
        return Response(_project_detail(request, project))


# --- maintainers -------------------------------------------------------------------------


class MaintainersApi(AccountsApi):
    @extend_schema(
        operation_id="listMaintainers",
        responses={200: s.MaintainerOutput(many=True), **_errors(404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.project_by_slug(slug)
        return Response(s.MaintainerOutput(selectors.memberships(project), many=True).data)

    @extend_schema(
        operation_id="addMaintainer",
        summary="Add someone who has signed in once, by issuer and email or subject (owners)",
        request=s.MaintainerAddInput,
        responses={201: s.MaintainerOutput, **_WRITE_ERRORS},
    )
    def post(self, request: Request, slug: str) -> Response:
        project = selectors.project_by_slug(slug)
        data = self.valid(s.MaintainerAddInput, request.data)
        membership = services.maintainer_add(actor=request.user, project=project, **data)
        return Response(s.MaintainerOutput(membership).data, status=201)


class MaintainerApi(AccountsApi):
    @extend_schema(
        operation_id="setMaintainerRole",
        summary="Change a member's role (owners; a project keeps one owner)",
        request=s.MaintainerRoleInput,
        responses={200: s.MaintainerOutput, **_WRITE_ERRORS},
    )
    def patch(self, request: Request, slug: str, pk: int) -> Response:
        membership = selectors.membership_get(selectors.project_by_slug(slug), pk)
        data = self.valid(s.MaintainerRoleInput, request.data)
        membership = services.maintainer_set_role(actor=request.user, membership=membership, **data)
        return Response(s.MaintainerOutput(membership).data)

    @extend_schema(
        operation_id="removeMaintainer",
        summary="Remove a member (owners; a project keeps one owner)",
        request=None,
        responses={204: None, **_WRITE_ERRORS},
    )
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        membership = selectors.membership_get(selectors.project_by_slug(slug), pk)
        services.maintainer_remove(actor=request.user, membership=membership)
        return Response(status=204)


# --- the allow-list ----------------------------------------------------------------------


class SignersApi(AccountsApi):
    @extend_schema(
        operation_id="listSigners",
        summary="The project's allow-list: who may sign for it",
        responses={200: s.SignerOutput(many=True), **_errors(404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.project_by_slug(slug)
        return Response(s.SignerOutput(selectors.signers(project), many=True).data)

    @extend_schema(
        operation_id="addSigner",
        summary="Add an allow-list rule (owners and maintainers)",
        request=s.SignerAddInput,
        responses={201: s.SignerOutput, **_WRITE_ERRORS},
    )
    def post(self, request: Request, slug: str) -> Response:
        project = selectors.project_by_slug(slug)
        data = self.valid(s.SignerAddInput, request.data)
        signer = services.signer_add(actor=request.user, project=project, **data)
        return Response(s.SignerOutput(signer).data, status=201)


class SignerApi(AccountsApi):
    @extend_schema(
        operation_id="getSigner",
        responses={200: s.SignerOutput, **_errors(404)},
    )
    def get(self, request: Request, slug: str, pk: int) -> Response:
        signer = selectors.signer_get(selectors.project_by_slug(slug), pk)
        return Response(s.SignerOutput(signer).data)

    @extend_schema(
        operation_id="removeSigner",
        summary="Remove an allow-list rule (owners and maintainers)",
        request=None,
        responses={204: None, **_WRITE_ERRORS},
    )
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        signer = selectors.signer_get(selectors.project_by_slug(slug), pk)
        services.signer_remove(actor=request.user, signer=signer)
        return Response(status=204)


# --- revocations -------------------------------------------------------------------------


class ProjectRevocationsApi(AccountsApi):
    @extend_schema(
        operation_id="listProjectRevocations",
        summary="Entries and certificates the project's maintainers revoked, newest first",
        description="Page with `cursor` = the previous page's `next_cursor`.",
        parameters=[s.RevocationsQueryInput],
        responses={200: s.RevocationPageOutput, **_errors(400, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        return _revocations_page(request, selectors.project_by_slug(slug))

    @extend_schema(
        operation_id="addProjectRevocation",
        summary="Revoke an entry or a certificate for this project (owners and maintainers)",
        request=s.RevocationAddInput,
        responses={201: s.RevocationOutput, **_WRITE_ERRORS},
    )
    def post(self, request: Request, slug: str) -> Response:
        project = selectors.project_by_slug(slug)
        data = self.valid(s.RevocationAddInput, request.data)
        revocation = services.revocation_add(actor=request.user, project=project, **data)
        return Response(s.RevocationOutput(revocation).data, status=201)


class RevocationsApi(AccountsApi):
    @extend_schema(
        operation_id="listInstanceRevocations",
        summary="Instance-wide revocations (they apply to every project), newest first",
        description="Page with `cursor` = the previous page's `next_cursor`.",
        parameters=[s.RevocationsQueryInput],
        responses={200: s.RevocationPageOutput, **_errors(400)},
    )
    def get(self, request: Request) -> Response:
        return _revocations_page(request, None)

    @extend_schema(
        operation_id="addInstanceRevocation",
        summary="Revoke an entry or a certificate instance-wide (staff)",
        request=s.RevocationAddInput,
        responses={201: s.RevocationOutput, **_WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = self.valid(s.RevocationAddInput, request.data)
        revocation = services.revocation_add(actor=request.user, project=None, **data)
        return Response(s.RevocationOutput(revocation).data, status=201)


def _revocations_page(request: Request, project: Any) -> Response:
    query = AccountsApi.valid(s.RevocationsQueryInput, request.query_params.dict())
    page = selectors.revocations_page(project, query.get("cursor"), query["limit"])
    revocations = s.RevocationOutput(page.items, many=True).data
    return Response({"revocations": revocations, "next_cursor": page.next_cursor})


# --- the audit trail ---------------------------------------------------------------------


class AuditApi(AccountsApi):
    @extend_schema(
        operation_id="listAuditEvents",
        summary="The project's signed, chained and logged history, oldest first",
        description=(
            "Each event's `document` (base64 canonical JSON) is signed by `public_key`; "
            "its `previous` member equals the previous event's `document_sha256`; and a "
            "hashedrekord entry for its SHA-256 is in the log (`log_entry`). Page with "
            "`cursor` = the previous page's `next_cursor`."
        ),
        parameters=[s.AuditQueryInput],
        responses={200: s.AuditPageOutput, **_errors(400, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.project_by_slug(slug)
        query = self.valid(s.AuditQueryInput, request.query_params.dict())
        page = selectors.audit_events(project, query.get("cursor"), query["limit"])
        context = {"entries": selectors.audit_log_entries(page.items)}
        events = s.AuditEventOutput(page.items, many=True, context=context).data
        return Response({"events": events, "next_cursor": page.next_cursor})


# --- API tokens --------------------------------------------------------------------------


class TokensApi(AccountsApi):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="listApiTokens",
        summary="Your API tokens (never the tokens themselves)",
        responses={200: s.TokenOutput(many=True), **_errors(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(s.TokenOutput(selectors.api_tokens(request.user), many=True).data)

    @extend_schema(
        operation_id="createApiToken",
        summary="Create an API token; the token is in this response only",
        request=s.TokenCreateInput,
        responses={201: s.TokenCreatedOutput, **_errors(400, 401, 409)},
    )
    def post(self, request: Request) -> Response:
        data = self.valid(s.TokenCreateInput, request.data)
        row, token = services.api_token_create(user=request.user, name=data["name"])
        row.token = token  # read by TokenCreatedOutput, shown once
        return Response(s.TokenCreatedOutput(row).data, status=201)


class TokenApi(AccountsApi):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="deleteApiToken",
        request=None,
        responses={204: None, **_errors(401, 404)},
    )
    def delete(self, request: Request, pk: int) -> Response:
        services.api_token_delete(user=request.user, token_id=pk)
        return Response(status=204)
