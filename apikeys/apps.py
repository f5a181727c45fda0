from django.apps import AppConfig


class ApikeysConfig(AppConfig):
    name = "apikeys"

    def ready(self) -> None:
        from apikeys import schema  # noqa: F401 - registers the OpenAPI security scheme
