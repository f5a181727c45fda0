"""`make run`, the embedded defaults (SQLite, the local-memory cache, tasks run in the web process),
serves parallel requests as safely as the production stack does, and goes on serving: no request
can poison the process for the next customer (issue 14, item 1)."""

from concurrent.futures import ThreadPoolExecutor

from tests.system import pictures
from tests.system.http import csrf_token, summary
from tests.system.stack import MARKS, PASSWORD

pytestmark = MARKS

BURST = 8
KEYS_PAGE = "/dashboard/keys/"
KEY_CREATIONS = 10  # for each account
ACCOUNTS = 3
MAX_KEYS = 5
REFUSAL = b"the most an account can have"


def test_a_burst_of_parallel_uploads_all_succeed_and_so_do_the_next_ones(run):
    _, api = run.customer()
    image = pictures.photo_jpeg(1024, 768)
    since = run.mark()

    with ThreadPoolExecutor(BURST) as pool:
        burst = list(pool.map(lambda _: api.optimize(image), range(BURST)))
    after = [api.optimize(image) for _ in range(3)]

    assert [answer.status for answer in burst + after] == [200] * (BURST + 3), summary(burst + after)
    assert "Traceback" not in run.output(since)


def test_parallel_key_creations_make_exactly_five_keys_and_refuse_the_rest(run):
    """Ten creations at once for an account, for each of three accounts in turn (one round failed
    four times in five before SQLite waited for its lock; three make the test all but certain).
    Ten at a time: runserver, a development server, listens with a backlog of ten connections."""
    browsers = [run.browser() for _ in range(ACCOUNTS)]
    for browser in browsers:
        browser.sign_in(run.account(), PASSWORD)
    tokens = [csrf_token(browser.get(KEYS_PAGE)) for browser in browsers]
    since = run.mark()

    pending = []
    for browser, token in zip(browsers, tokens, strict=True):
        with ThreadPoolExecutor(KEY_CREATIONS) as pool:
            pending.append(
                [
                    pool.submit(browser.post_form, KEYS_PAGE, {"name": f"key {n}"}, token=token)
                    for n in range(KEY_CREATIONS)
                ]
            )

    for browser, futures in zip(browsers, pending, strict=True):
        answers = [future.result() for future in futures]
        created = [answer for answer in answers if answer.status == 302]
        refused = [answer for answer in answers if answer.status == 200 and REFUSAL in answer.body]
        assert (len(created), len(refused)) == (MAX_KEYS, KEY_CREATIONS - MAX_KEYS), summary(answers)
        assert f"({MAX_KEYS} of {MAX_KEYS})".encode() in browser.get(KEYS_PAGE).body
    assert "Traceback" not in run.output(since)
