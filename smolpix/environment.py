"""The environment's settings (and `.env`'s), read strictly: a value its variable cannot take stops the
process at start with a message naming both, where django-environ let it pass for something else
(`SECURE_SSL_REDIRECT=ture` was false: the API took keys over plain HTTP; `DATABASE_TIMEOUT=1e1` was
11; `DATABASE_TIMEOUT=-3` started a service whose every answer was 503). A variable set but empty
counts as unset, but for a switch (refused: it meant off). No Django import: gunicorn.conf.py reads
its settings here too."""

import ipaddress
import math
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ

TRUE = ("true", "yes", "on", "1")
FALSE = ("false", "no", "off", "0")
# Numbers as JSON writes them (as the API's form fields, api.optimize.FORM_NUMBER): int() and
# float() also take `1_000`, `+5` and other scripts' digits (an Arabic-Indic five, U+0665).
WHOLE_NUMBER = re.compile(r"-?[0-9]+")
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL", "NOTSET")  # logging's names


class InvalidSetting(ValueError):
    """A variable's value that its setting cannot take."""

    def __init__(self, name: str, value: str, expected: str) -> None:
        super().__init__(f"{name}={value!r} is not {expected}.")


SETTINGS_MODULE_FILE = Path(__file__).resolve().with_name("settings.py")


def stop_in_one_line_on_invalid_settings() -> None:
    """Make a setting the process cannot take end it in one line naming it, on stderr with status
    1: it was the last line of a 35-line traceback. Any other uncaught exception is reported as
    before, with its traceback."""
    report = sys.excepthook

    def hook(kind, error, traceback) -> None:
        if _names_a_setting(error, traceback):
            print(f"Smolpix cannot start: {error}", file=sys.stderr)
        else:
            report(kind, error, traceback)

    sys.excepthook = hook


def _names_a_setting(error: BaseException, traceback) -> bool:
    """Ours, or Django's ImproperlyConfigured raised by our settings module on no other error. Django
    raises it elsewhere too (a missing database driver, an app that does not import), and there the
    traceback, and the error under it, are what the reader needs."""
    from django.core.exceptions import ImproperlyConfigured  # here: gunicorn.conf.py imports this module

    if isinstance(error, InvalidSetting):
        return True
    if not isinstance(error, ImproperlyConfigured) or traceback is None:
        return False
    if error.__cause__ is not None or (error.__context__ is not None and not error.__suppress_context__):
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return Path(traceback.tb_frame.f_code.co_filename).resolve() == SETTINGS_MODULE_FILE


class Env(environ.Env):
    # (Before the methods named after the built-in types, whose names its annotations mean.)
    def _number(self, var: str, default, *, written: re.Pattern, parse: type, expected: str, minimum: float | None):
        raw = self._raw(var, default)
        if not isinstance(raw, str):
            return raw
        if not written.fullmatch(raw):
            raise InvalidSetting(var, raw, expected)
        value = parse(raw)
        if not math.isfinite(value):  # 1e999
            raise InvalidSetting(var, raw, "a finite number")
        if minimum is not None and value < minimum:
            raise InvalidSetting(var, raw, f"at least {minimum:g}")
        return value

    def bool(self, var: str, default=environ.Env.NOTSET) -> bool:
        """Set but empty is refused too: django-environ read it as false, so `DEBUG=` meant off."""
        if var not in self.ENVIRON:
            return self._raw(var, default)
        raw = self.ENVIRON[var]
        if raw.strip().lower() in TRUE:
            return True
        if raw.strip().lower() in FALSE:
            return False
        raise InvalidSetting(var, raw, f"one of {', '.join(TRUE)} or {', '.join(FALSE)}")

    def int(self, var: str, default=environ.Env.NOTSET, *, minimum: int | None = None) -> int:
        return self._number(var, default, written=WHOLE_NUMBER, parse=int, expected="a whole number", minimum=minimum)

    def float(self, var: str, default=environ.Env.NOTSET, *, minimum: float | None = None) -> float:
        return self._number(var, default, written=NUMBER, parse=float, expected="a number", minimum=minimum)

    def log_level(self, var: str, default: str) -> str:
        """A logging level's name, in any case (`debug` stopped every process, in words that did not
        name LOG_LEVEL)."""
        raw = self._raw(var, default)
        if raw.upper() not in LOG_LEVELS:
            raise InvalidSetting(var, raw, f"one of {', '.join(LOG_LEVELS)}")
        return raw.upper()

    def http_url(self, var: str) -> str:
        """An absolute http(s) URL with a host, which links continue, or "" when unset (`smolpix.co`
        made every e-mail's link `smolpix.co/dashboard/`). A path and a trailing slash are fine
        (smolpix.emails drops the slash); a query or fragment would land in the middle of links."""
        raw = self._raw(var, "")
        if not raw:
            return raw
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        except ValueError:
            parts = None
        if not parts or parts.scheme not in ("http", "https") or not parts.hostname or "?" in raw or "#" in raw:
            expected = "an absolute http:// or https:// URL with a host, without a query (e.g. https://smolpix.co)"
            raise InvalidSetting(var, raw, expected)
        return raw

    def redis_url(self, var: str, default: str = "") -> str:
        """A Redis URL, `redis://` or `rediss://` (TLS), or `default` when unset: the scheme the cache
        (redis-py), Celery's broker (kombu) and its results all take (`notaurl` passed every check,
        then no task was queued; redis-py's `unix://` is no transport of kombu's)."""
        raw = self._raw(var, default)
        if raw and urlsplit(raw).scheme not in ("redis", "rediss"):
            raise InvalidSetting(var, raw, "a redis:// or rediss:// URL (e.g. redis://127.0.0.1:6379/0)")
        return raw

    def ports(self, var: str, default: list[int]) -> list[int]:
        """Port numbers separated by commas (`abc` stopped the start with a ValueError that did not
        name the variable, and `99999` was taken)."""
        items = self._items(var)
        if items is None:
            return default
        if not all(item.isascii() and item.isdigit() and 1 <= int(item) <= 65535 for item in items):
            raise InvalidSetting(var, self.ENVIRON[var], "port numbers (1 to 65535) separated by commas")
        return [int(item) for item in items]

    def networks(self, var: str, default: list[str]) -> list[str]:
        """IP addresses or networks separated by commas (a host name was taken, and then every
        request that asked for the client's address raised)."""
        items = self._items(var)
        if items is None:
            return default
        try:
            for item in items:
                ipaddress.ip_network(item)  # strict, as gunicorn reads it: 10.0.0.1/8 is a mistake
        except ValueError:
            expected = "IP addresses or networks (such as 10.0.0.0/8) separated by commas"
            raise InvalidSetting(var, self.ENVIRON[var], expected) from None
        return items

    def _items(self, var: str) -> list[str] | None:
        """The comma-separated items of the variable's text, or None when it is unset or empty."""
        raw = self._raw(var, None)
        return None if raw is None else [item.strip() for item in raw.split(",")]

    # (After the methods whose annotations mean the built-in list.)
    def list(self, var: str, default: list[str]) -> list[str]:
        """Items separated by commas, none empty, as ports and networks are (`ALLOWED_HOSTS=' '` was
        the host ' ', set: every page would have answered 400; now it is unset, as any blank)."""
        items = self._items(var)
        if items is None:
            return default
        if not all(items):
            raise InvalidSetting(var, self.ENVIRON[var], "items separated by commas, none of them empty")
        return items

    def _raw(self, var: str, default):
        """The variable's text, or `default` when it is unset or empty (django-environ's get_value
        would cast the text by the default's type, as loosely as above)."""
        raw = self.ENVIRON.get(var, "").strip()
        if raw:
            return raw
        if default is environ.Env.NOTSET:
            raise InvalidSetting(var, raw, "set")
        return default


def read_env_file(folder: Path) -> None:
    """Read `folder`/.env into the environment, if there is one (django-environ says at INFO that
    there is none, whatever LOG_LEVEL, before logging is set up)."""
    if (folder / ".env").is_file():
        environ.Env.read_env(folder / ".env")
