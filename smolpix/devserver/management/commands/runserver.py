"""`manage.py runserver`: WhiteNoise's (no static files served by runserver itself), on
smolpix.devserver's HTTP server."""

from whitenoise.runserver_nostatic.management.commands.runserver import Command as WhiteNoiseRunserver

from smolpix.devserver.server import DevelopmentServer


class Command(WhiteNoiseRunserver):
    server_cls = DevelopmentServer
