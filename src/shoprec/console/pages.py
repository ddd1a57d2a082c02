"""The console's HTML: Jinja2 templates (``templates/``, autoescaped), the charts embedded.

``models_page``, ``version_page``, ``confirm_page`` and ``message_page`` take the plain data of
``views`` and return a whole document. The markup that tests and scripts rely on (ids and
``data-*`` attributes) is listed in docs/console.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from shoprec.console.auth import User
from shoprec.console.charts import bar_chart, interval_chart, line_chart
from shoprec.console.views import ModelSummary, VersionPage
from shoprec.render.gate import gate_table
from shoprec.render.table import to_html

TEMPLATES = Path(__file__).with_name("templates")
LABELS = {"approve": "Approve", "reject": "Reject", "promote": "Promote", "rollback": "Roll back"}
AUDIT_FIELDS = ("time", "model", "action", "by", "reason", "version")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _interval(interval: Sequence[float] | None) -> str:
    return f"[{interval[0]:.4f}, {interval[1]:.4f}]" if interval else ""


def _when(stamp: str | None) -> str:
    """``2026-01-02T03:04:05.123456Z`` → ``2026-01-02 03:04:05 UTC``."""
    if not stamp:
        return ""
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return stamp


def _details(event: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(event.items()) if k not in AUDIT_FIELDS)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=_num, interval=_interval, when=_when, details=_details)
    return env


def _render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def models_page(
    models: list[ModelSummary],
    user: User,
    alias: str,
    location: str,
    flash: tuple[str, str] | None = None,
) -> str:
    return _render(
        "models.html",
        models=models,
        user=user,
        alias=alias,
        registry_location=location,
        flash=flash,
    )


def version_page(
    page: VersionPage, user: User, location: str, flash: tuple[str, str] | None = None
) -> str:
    paired = page.paired
    return _render(
        "version.html",
        page=page,
        user=user,
        registry_location=location,
        flash=flash,
        labels=LABELS,
        gate_html=Markup(to_html(gate_table(page.gate), heading=None)) if page.gate else None,
        curve_svgs=[Markup(line_chart(c)) for c in page.curves],
        folds_svg=Markup(bar_chart(page.folds)) if page.folds else None,
        segments_svg=Markup(bar_chart(page.segments)) if page.segments else None,
        paired_svg=(
            Markup(
                interval_chart(paired["diff"], paired["low"], paired["high"], "paired difference")
            )
            if paired
            else None
        ),
    )


def confirm_page(
    *,
    action: str,
    heading: str,
    consequence: str,
    action_url: str,
    back: str,
    csrf_token: str,
    user: User,
    location: str,
    reason_required: bool,
) -> str:
    confirm = {
        "approve": "Confirm approval",
        "reject": "Confirm rejection",
        "promote": "Confirm promotion",
        "rollback": "Confirm rollback",
    }[action]
    return _render(
        "confirm.html",
        action=action,
        heading=heading,
        consequence=consequence,
        action_url=action_url,
        back=back,
        csrf_token=csrf_token,
        user=user,
        registry_location=location,
        reason_required=reason_required,
        confirm_label=confirm,
        flash=None,
    )


def message_page(heading: str, message: str, user: User, location: str) -> str:
    return _render(
        "message.html",
        heading=heading,
        message=message,
        user=user,
        registry_location=location,
        flash=None,
    )
