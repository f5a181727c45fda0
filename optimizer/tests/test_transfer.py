from optimizer import transfer


def test_an_image_handed_over_outlives_the_longest_wait_in_the_queue_and_run(settings, monkeypatch):
    settings.OPTIMIZER_QUEUE_TIMEOUT = 600
    settings.CELERY_TASK_TIME_LIMIT = 60
    timeouts = []
    monkeypatch.setattr(transfer.cache, "set", lambda key, data, timeout: timeouts.append(timeout))
    transfer.put(job_id="job", part="source", data=b"image")
    assert timeouts[0] > 600 + 60  # and the time to pick its result up
