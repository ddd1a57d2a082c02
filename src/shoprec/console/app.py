"""The console's routes (FastAPI, server-rendered HTML).

    GET  /                                      → 303 /models
    GET  /models                                every model and version
    GET  /models/{name}/versions/{v}            a version's page
    GET  /models/{name}/versions/{v}/{action}   the confirmation form (approve, reject, promote)
    POST /models/{name}/versions/{v}/{action}   do it, then 303 to the version page
    GET  /models/{name}/rollback                the confirmation form
    POST /models/{name}/rollback                roll the alias back, 303 to the version now in it

Every route but ``/`` needs a signed-in user (401 with a Basic challenge otherwise); a POST
needs the reviewer role (403 for read-only) and, when signed in with Basic, the form's CSRF
token (403 when it is missing or not this user's). The result of an action is shown once, in
``<div id="flash">``, from a signed cookie.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from shoprec.console import actions
from shoprec.console.auth import User, UserStore
from shoprec.console.csrf import Signer
from shoprec.console.pages import confirm_page, message_page, models_page, version_page
from shoprec.console.views import Views
from shoprec.errors import ShoprecError
from shoprec.registry import Registry, RegistryError

FLASH_COOKIE = "shoprec_flash"
VERSION_ACTIONS = ("approve", "reject", "promote")
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class ConsoleSettings:
    alias: str = "production"  # promotion.alias
    metric: str = "ndcg@10"  # gate.metric: the headline of a version without a gate result
    project_root: Path | None = None  # where promote looks for the version's dvc.lock data
    dvc_remote: str = ""  # promotion.dvc_remote
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)


class Refused(Exception):
    def __init__(self, status: int, heading: str, message: str, user: User | None = None):
        super().__init__(message)
        self.status, self.heading, self.message, self.user = status, heading, message, user


def create_app(registry: Registry, users: UserStore, settings: ConsoleSettings) -> FastAPI:
    app = FastAPI(title="shoprec console", docs_url=None, redoc_url=None, openapi_url=None)
    signer = Signer(settings.secret)
    views = Views(registry, settings.alias, settings.metric)
    location = registry.store.location
    doing = actions.ActionSettings(settings.alias, settings.project_root, settings.dvc_remote)

    @app.exception_handler(Refused)
    def refused(request: Request, exc: Refused) -> Response:
        if exc.status == 401:
            return HTMLResponse(
                f"<!doctype html><title>Sign in</title><h1>{exc.heading}</h1><p>{exc.message}</p>",
                401,
                headers={"WWW-Authenticate": 'Basic realm="shoprec console"', **NO_STORE},
            )
        body = message_page(exc.heading, exc.message, exc.user, location)
        return HTMLResponse(body, exc.status, headers=NO_STORE)

    def sign_in(request: Request) -> tuple[User, str]:
        user, scheme = users.authenticate(request.headers.get("authorization"))
        if user is None:
            said = "wrong name, password or token" if scheme else "sign in to the console"
            raise Refused(401, "Sign in", said)
        return user, scheme

    def reviewer(request: Request) -> tuple[User, str]:
        user, scheme = sign_in(request)
        if not user.may_decide:
            raise Refused(403, "Not allowed", f"{user.name} is read-only: no decisions.", user)
        return user, scheme

    def flash_of(request: Request, user: User) -> tuple[str, str] | None:
        return signer.read_flash(user.name, request.cookies.get(FLASH_COOKIE))

    def page(body: str, request: Request) -> HTMLResponse:
        response = HTMLResponse(body, headers=NO_STORE)
        if FLASH_COOKIE in request.cookies:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    def view(name: str, version: int, user: User):
        try:
            return views.version(name, version)
        except RegistryError as exc:
            raise Refused(404, "Not found", str(exc), user) from None

    async def form(request: Request, user: User, scheme: str) -> dict[str, str]:
        body = (await request.body()).decode("utf-8", "replace")
        fields = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        if scheme == "basic" and not signer.csrf_ok(user.name, fields.get("csrf_token")):
            raise Refused(
                403,
                "Refused",
                "the form's CSRF token is missing or not yours: reload the page and try again",
                user,
            )
        return fields

    def done(url: str, user: User, kind: str, text: str) -> RedirectResponse:
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(
            FLASH_COOKIE,
            signer.flash_cookie(user.name, kind, text),
            path="/",
            httponly=True,
            samesite="lax",
        )
        return response

    @app.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/models", status_code=303)

    @app.get("/models", response_class=HTMLResponse)
    def models(request: Request) -> HTMLResponse:
        user, _ = sign_in(request)
        body = models_page(views.models(), user, settings.alias, location, flash_of(request, user))
        return page(body, request)

    @app.get("/models/{name}/versions/{version}", response_class=HTMLResponse)
    def version(name: str, version: int, request: Request) -> HTMLResponse:
        user, _ = sign_in(request)
        found = view(name, version, user)
        return page(version_page(found, user, location, flash_of(request, user)), request)

    @app.get("/models/{name}/versions/{version}/{action}", response_class=HTMLResponse)
    def confirm_version_action(name: str, version: int, action: str, request: Request):
        user, _ = sign_in(request)
        if action not in VERSION_ACTIONS:
            raise Refused(404, "Not found", f"no action {action!r}", user)
        user, _ = reviewer(request)
        found = view(name, version, user)
        if action not in found.actions:
            raise Refused(
                409,
                "Not possible now",
                f"{name} v{version} is {found.status}: it cannot be {action}d now"
                + ("" if found.servable else " (it has not passed the servability check)"),
                user,
            )
        consequence = {
            "approve": f"{name} v{version} becomes approved (once, for good); a training flow "
            "run waiting on it is resumed with your decision and promotes it.",
            "reject": f"{name} v{version} becomes rejected (once, for good): it can never be "
            "promoted; a training flow run waiting on it is resumed with your decision.",
            "promote": f"{settings.alias} moves from "
            + (f"v{found.production}" if found.production is not None else "nothing")
            + f" to {name} v{version}: the service and batch scoring follow it.",
        }[action]
        url = f"/models/{name}/versions/{version}"
        return page(
            confirm_page(
                action=action,
                heading=f"{action.capitalize()} {name} v{version}",
                consequence=consequence,
                action_url=f"{url}/{action}",
                back=url,
                csrf_token=signer.csrf_token(user.name),
                user=user,
                location=location,
                reason_required=action in ("approve", "reject"),
            ),
            request,
        )

    @app.post("/models/{name}/versions/{version}/{action}")
    async def version_action(name: str, version: int, action: str, request: Request):
        user, scheme = sign_in(request)
        if action not in VERSION_ACTIONS:
            raise Refused(404, "Not found", f"no action {action!r}", user)
        user, scheme = reviewer(request)
        fields = await form(request, user, scheme)
        reason = fields.get("reason", "").strip()
        url = f"/models/{name}/versions/{version}"
        try:
            if action == "promote":
                said = await run_in_threadpool(
                    actions.promote, registry, doing, name, version, user.name, reason
                )
            else:
                approve = action == "approve"
                said = await run_in_threadpool(
                    actions.decide, registry, name, version, approve, user.name, reason
                )
        except ShoprecError as exc:
            return done(url, user, "error", f"not done: {exc}")
        return done(url, user, "ok", said)

    @app.get("/models/{name}/rollback", response_class=HTMLResponse)
    def confirm_rollback(name: str, request: Request):
        user, _ = reviewer(request)
        try:
            summary = next(m for m in views.models() if m.name == name)
        except StopIteration:
            raise Refused(404, "Not found", f"no model {name!r} in the registry", user) from None
        if summary.can_roll_back_to is None:
            raise Refused(
                409, "Not possible now", f"{settings.alias} of {name} has no earlier version", user
            )
        back = f"/models/{name}/versions/{summary.production}"
        return page(
            confirm_page(
                action="rollback",
                heading=f"Roll back {name}",
                consequence=f"{settings.alias} moves back from v{summary.production} to "
                f"v{summary.can_roll_back_to}.",
                action_url=f"/models/{name}/rollback",
                back=back,
                csrf_token=signer.csrf_token(user.name),
                user=user,
                location=location,
                reason_required=False,
            ),
            request,
        )

    @app.post("/models/{name}/rollback")
    async def rollback(name: str, request: Request):
        user, scheme = reviewer(request)
        fields = await form(request, user, scheme)
        reason = fields.get("reason", "").strip()
        try:
            said = await run_in_threadpool(
                actions.rollback, registry, doing, name, user.name, reason
            )
        except ShoprecError as exc:
            return done("/models", user, "error", f"not done: {exc}")
        now = (registry.alias(name, settings.alias) or {}).get("version")
        return done(f"/models/{name}/versions/{now}", user, "ok", said)

    return app
