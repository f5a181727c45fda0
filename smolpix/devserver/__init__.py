"""`make run`'s server: Django's runserver (as WhiteNoise's `runserver_nostatic` wraps it) whose own
refusals, to requests it cannot parse, are the API's JSON errors, as gunicorn's are under `make
serve`. An app only so that its `runserver` command comes first (INSTALLED_APPS)."""
