from django.apps import AppConfig


class DevidpConfig(AppConfig):
    name = "devidp"
    verbose_name = "Development identity provider"
