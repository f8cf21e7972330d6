"""Pulumi components that take a Yandex Cloud account to a vLLM endpoint on DataSphere."""
