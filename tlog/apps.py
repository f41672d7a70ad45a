from django.apps import AppConfig


class TlogConfig(AppConfig):
    name = "tlog"
    verbose_name = "Transparency log"
