"""Yandex Cloud Registry: the registry the vLLM image is pushed to and pulled from."""
