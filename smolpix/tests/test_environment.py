"""The environment read strictly (smolpix.environment): a value its setting cannot take stops the
process at start, naming the variable, where it used to pass for something else."""

import re
import subprocess
import sys

import pytest

from smolpix.environment import Env, InvalidSetting
from smolpix.tests.test_settings import PRODUCTION, manage


@pytest.fixture
def env(monkeypatch):
    def setting(**values: str) -> Env:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return Env()

    return setting


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("TRUE", True), ("1", True), ("Off", False), ("no", False)]
)
def test_a_boolean_in_any_usual_spelling(env, value, expected):
    assert env(FLAG=value).bool("FLAG", default=not expected) is expected


@pytest.mark.parametrize("value", ["ture", "maybe", "2"])
def test_a_boolean_misspelt_is_refused_not_taken_as_false(env, value):
    """SECURE_SSL_REDIRECT=ture turned the HTTPS redirect off: the API took keys over plain HTTP."""
    with pytest.raises(InvalidSetting, match=f"FLAG='{value}' is not one of true"):
        env(FLAG=value).bool("FLAG", default=True)


@pytest.mark.parametrize("value", ["", "  "])
def test_a_number_set_but_empty_counts_as_unset(env, value):
    assert env(COUNT=value).int("COUNT", default=7) == 7


@pytest.mark.parametrize("value", ["", "  "])
def test_a_switch_set_but_empty_is_refused(env, value):
    """`DEBUG=` meant off to django-environ: as unset it would mean on (gunicorn took `DEBUG=" "` as
    off and its workers as on, showing Django's debug pages)."""
    with pytest.raises(InvalidSetting, match=r"FLAG='\s*' is not one of true"):
        env(FLAG=value).bool("FLAG", default=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1e1", "a whole number"),
        ("10s", "a whole number"),
        ("abc", "a whole number"),
        ("1_000", "a whole number"),
        ("+5", "a whole number"),
        ("\u0665", "a whole number"),  # an Arabic-Indic five
        ("-3", "at least 0"),
    ],
)
def test_a_whole_number_that_is_not_one_or_out_of_range_is_refused(env, value, expected):
    """django-environ read DATABASE_TIMEOUT=1e1 as 11 and 10s as 10; -3 started a service that answered
    503. int() took 1_000, +5 and other scripts' digits: not numbers as the README writes them."""
    with pytest.raises(InvalidSetting, match=f"COUNT='{re.escape(value)}' is not {expected}"):
        env(COUNT=value).int("COUNT", default=1, minimum=0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2,5", "a number"),
        ("nan", "a number"),
        ("1_0", "a number"),
        ("+5", "a number"),
        (".5", "a number"),
        ("\u0665", "a number"),
        ("1e999", "a finite number"),
        ("0.05", "at least 0.1"),
    ],
)
def test_a_number_that_is_not_one_or_out_of_range_is_refused(env, value, expected):
    with pytest.raises(InvalidSetting, match=f"SECONDS='{re.escape(value)}' is not {expected}"):
        env(SECONDS=value).float("SECONDS", default=1.0, minimum=0.1)


def test_numbers_in_range_are_read(env):
    assert env(COUNT=" 12 ", SECONDS="2.5").int("COUNT", default=1, minimum=0) == 12
    assert Env().float("SECONDS", default=1.0, minimum=0.1) == 2.5
    assert env(SECONDS="-0.5e1").float("SECONDS", default=1.0, minimum=None) == -5


def test_ports_are_numbers_in_range(env):
    """OPTIMIZER_ALLOWED_PORTS=abc stopped the start with a ValueError that did not name it; 99999 was taken."""
    assert env(PORTS=" 80, 8443 ").ports("PORTS", default=[443]) == [80, 8443]
    assert Env().ports("UNSET_PORTS", default=[443]) == [443]
    for value in ["abc", "80,99999", "0", "80,,443", "\uff18\uff10"]:  # the last: full-width digits
        with pytest.raises(InvalidSetting, match="is not port numbers"):
            env(PORTS=value).ports("PORTS", default=[443])


def test_a_list_has_its_items_stripped(env):
    assert env(HOSTS=" smolpix.co , www.smolpix.co").list("HOSTS", default=[]) == ["smolpix.co", "www.smolpix.co"]
    assert env(HOSTS=" ").list("HOSTS", default=["localhost"]) == ["localhost"]  # blank is unset


@pytest.mark.parametrize("value", [",", "smolpix.co,", "smolpix.co, ,www.smolpix.co"])
def test_a_list_with_an_empty_item_is_refused(env, value):
    with pytest.raises(InvalidSetting, match=f"HOSTS='{value}' is not items separated by commas, none of them empty"):
        env(HOSTS=value).list("HOSTS", default=[])


def test_networks_are_addresses_or_networks(env):
    """FORWARDED_ALLOW_IPS=proxy.internal was taken, and every sign-in then raised reading the client's address."""
    assert env(PROXIES="10.0.0.1, 192.168.0.0/16,::1").networks("PROXIES", default=[]) == [
        "10.0.0.1",
        "192.168.0.0/16",
        "::1",
    ]
    for value in ["10.0.0.1,proxy.internal", "*", "10.0.0.1/8"]:  # the last as gunicorn reads it: host bits set
        with pytest.raises(InvalidSetting, match="is not IP addresses or networks"):
            env(PROXIES=value).networks("PROXIES", default=[])


@pytest.mark.parametrize(
    "value", ["https://smolpix.co", "https://smolpix.co/", "http://127.0.0.1:8000", "https://x.co/app"]
)
def test_a_site_url_is_an_absolute_http_url(env, value):
    assert env(SITE_URL=value).http_url("SITE_URL") == value


@pytest.mark.parametrize(
    "value",
    [
        "smolpix.co",
        "ftp://smolpix.co",
        "https://",
        "https:smolpix.co",
        "https://x.co?a=1",
        "http://x.co:abc",
        "https://x.co?",  # links https://x.co?/dashboard/: an empty query is no query to urlsplit
        "https://x.co/#",
    ],
)
def test_a_site_url_that_links_cannot_start_with_is_refused(env, value):
    """SITE_URL=smolpix.co made every e-mail's link smolpix.co/dashboard/, which no mail reader opens."""
    with pytest.raises(InvalidSetting, match=f"SITE_URL='{re.escape(value)}' is not an absolute http"):
        env(SITE_URL=value).http_url("SITE_URL")


@pytest.mark.parametrize("value", ["redis://127.0.0.1:6379/0", "rediss://:secret@redis.internal:6380/1"])
def test_a_redis_url(env, value):
    assert env(REDIS_URL=value).redis_url("REDIS_URL") == value


@pytest.mark.parametrize("value", ["notaurl", "127.0.0.1:6379", "unix:///run/redis.sock", "amqp://localhost"])
def test_a_redis_url_that_the_cache_or_celery_cannot_use_is_refused(env, value):
    """REDIS_URL=notaurl passed `check --deploy` and make serve's check; then no task was queued."""
    with pytest.raises(InvalidSetting, match=f"REDIS_URL='{value}' is not a redis:// or rediss:// URL"):
        env(REDIS_URL=value).redis_url("REDIS_URL")


def test_a_log_level_in_any_case(env):
    """LOG_LEVEL=debug stopped every process, in words that did not name LOG_LEVEL."""
    assert env(LOG_LEVEL="debug").log_level("LOG_LEVEL", default="INFO") == "DEBUG"
    assert Env().log_level("UNSET_LOG_LEVEL", default="INFO") == "INFO"
    assert env(LOG_LEVEL="warn").log_level("LOG_LEVEL", default="INFO") == "WARN"  # an alias logging takes
    with pytest.raises(InvalidSetting, match="LOG_LEVEL='loud' is not one of DEBUG"):
        env(LOG_LEVEL="loud").log_level("LOG_LEVEL", default="INFO")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"SECURE_SSL_REDIRECT": "ture"}, "SECURE_SSL_REDIRECT='ture' is not one of true"),
        ({"DATABASE_TIMEOUT": "-3"}, "DATABASE_TIMEOUT='-3' is not at least 0"),
        ({"DATABASE_TIMEOUT": "1_0"}, "DATABASE_TIMEOUT='1_0' is not a number"),
        ({"OPTIMIZER_MAX_PIXELS": "+5"}, "OPTIMIZER_MAX_PIXELS='+5' is not a whole number"),
        ({"OPTIMIZER_MAX_SOURCE_BYTES": "0"}, "OPTIMIZER_MAX_SOURCE_BYTES='0' is not at least 1"),
        ({"OPTIMIZER_ALLOWED_PORTS": "abc"}, "OPTIMIZER_ALLOWED_PORTS='abc' is not port numbers"),
        ({"FORWARDED_ALLOW_IPS": "*"}, "FORWARDED_ALLOW_IPS='*' is not IP addresses"),
        ({"ALLOWED_HOSTS": " "}, "ALLOWED_HOSTS must be set when DEBUG is off"),  # it was the host ' '
        ({"ALLOWED_HOSTS": "smolpix.co,"}, "ALLOWED_HOSTS='smolpix.co,' is not items separated by commas"),
        ({"SITE_URL": "smolpix.co"}, "SITE_URL='smolpix.co' is not an absolute http"),
        ({"REDIS_URL": "notaurl"}, "REDIS_URL='notaurl' is not a redis:// or rediss:// URL"),
        ({"CELERY_BROKER_URL": "notaurl"}, "CELERY_BROKER_URL='notaurl' is not a redis:// or rediss:// URL"),
        (
            {"CELERY_TASK_SOFT_TIME_LIMIT": "30", "CELERY_TASK_TIME_LIMIT": "2"},
            "CELERY_TASK_SOFT_TIME_LIMIT must be less than CELERY_TASK_TIME_LIMIT",
        ),
    ],
)
def test_the_settings_refuse_to_start_on_a_value_they_cannot_take(values, message):
    """Each of these started, and then: the API took keys over plain HTTP; every answer was 503 with
    PostgreSQL up; every upload was too large; every optimization was a 500."""
    result = manage("check", **PRODUCTION | values)

    assert result.returncode == 1
    # One line, not the end of a traceback.
    assert result.stderr.startswith(f"Smolpix cannot start: {message}")
    assert result.stderr.count("\n") == 1


def test_an_improperly_configured_from_elsewhere_keeps_its_traceback():
    """Django raises ImproperlyConfigured on errors that are not settings' (a database driver that
    does not import): there the error under it is the news, not a line."""
    raised = subprocess.run(
        [
            sys.executable,
            "-c",
            "import smolpix\n"
            "from django.core.exceptions import ImproperlyConfigured\n"
            "try:\n    import a_driver_that_is_not_installed\n"
            "except ImportError as missing:\n    raise ImproperlyConfigured('Error loading a driver') from missing\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert raised.returncode == 1
    assert "ModuleNotFoundError: No module named 'a_driver_that_is_not_installed'" in raised.stderr
    assert "Smolpix cannot start" not in raised.stderr
