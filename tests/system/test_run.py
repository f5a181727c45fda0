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
KEY_CREATIONS = 10
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
    browser = run.browser()
    browser.sign_in(run.account(), PASSWORD)
    token = csrf_token(browser.get(KEYS_PAGE))
    since = run.mark()

    with ThreadPoolExecutor(KEY_CREATIONS) as pool:
        answers = list(
            pool.map(lambda n: browser.post_form(KEYS_PAGE, {"name": f"key {n}"}, token=token), range(KEY_CREATIONS))
        )

    created = [answer for answer in answers if answer.status == 302]
    refused = [answer for answer in answers if answer.status == 200 and REFUSAL in answer.body]
    assert (len(created), len(refused)) == (MAX_KEYS, KEY_CREATIONS - MAX_KEYS), summary(answers)
    assert f"({MAX_KEYS} of {MAX_KEYS})".encode() in browser.get(KEYS_PAGE).body
    assert "Traceback" not in run.output(since)
