"""E-mails to customers, written as templates in templates/emails/ and sent through EMAIL_URL."""

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string


def send_templated_email(*, to: str, template: str, context: dict[str, Any]) -> None:
    """Send `emails/<template>_subject.txt` and `emails/<template>.txt`, rendered with `context` and
    `site_url`, as a plain-text e-mail from DEFAULT_FROM_EMAIL."""
    context = {"site_url": settings.SITE_URL.rstrip("/"), **context}
    subject = " ".join(render_to_string(f"emails/{template}_subject.txt", context).split())
    send_mail(subject, render_to_string(f"emails/{template}.txt", context), None, [to])
