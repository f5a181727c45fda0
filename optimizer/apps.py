from django.apps import AppConfig


class OptimizerConfig(AppConfig):
    name = "optimizer"

    def ready(self) -> None:
        from optimizer import checks  # noqa: F401 - registers the system checks
