"""Deploy checks (`manage.py check --deploy`) for what account e-mails need in production."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_site_url(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Without SITE_URL, links in e-mails (password resets, sign-in) start at the host and port a
    request named: ALLOWED_HOSTS vets the host, but a client chooses the port."""
    if settings.SITE_URL:
        return []
    return [
        checks.Warning(
            "SITE_URL is not set: links in e-mails, password resets' included, start at the host and port "
            "the request named (any port, chosen by whoever asks for the e-mail), and beat's e-mails link "
            "to http://127.0.0.1:8000.",
            hint="Set SITE_URL to the site's public address, e.g. https://smolpix.co.",
            id="accounts.W001",
        )
    ]
