"""E-mails to customers. Every templated message goes through `send_templated_email`: a subject and a
plain-text body written as templates/emails/<name>_subject.txt and <name>.txt, sent through EMAIL_URL.

Absolute links in them start with `site_url()`:
1. SITE_URL, when it is set (set it in production: it is the only source e-mails sent by beat's jobs have);
2. else the scheme and host the customer reached us at: of the request being served, or of the request
   that queued the task sending the e-mail (it travels in the task's message, see smolpix.celery). The
   host is one ALLOWED_HOSTS accepted, so a forged Host header cannot put another site in a link;
3. else make run's address, DEVELOPMENT_SITE_URL.
"""

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

DEVELOPMENT_SITE_URL = "http://127.0.0.1:8000"

# Set for each request by smolpix.middleware.SiteUrlMiddleware, and for each task from its message.
request_site_url: ContextVar[str | None] = ContextVar("request_site_url", default=None)


def site_url() -> str:
    """The base of absolute links, without a trailing slash (see the module's docstring)."""
    return (settings.SITE_URL or request_site_url.get() or DEVELOPMENT_SITE_URL).rstrip("/")


def send_templated_email(*, to: str, template: str, context: Mapping[str, Any] | None = None) -> None:
    """Send `emails/<template>_subject.txt` (on one line) and `emails/<template>.txt`, rendered with
    `context` and `site_url`, as a plain-text e-mail from DEFAULT_FROM_EMAIL. Raises what the mail
    server's connection raises (SMTPException, OSError), for the calling task to retry."""
    context = {"site_url": site_url(), **(context or {})}
    subject = " ".join(render_to_string(f"emails/{template}_subject.txt", context).split())
    send_mail(subject, render_to_string(f"emails/{template}.txt", context), None, [to])
