"""The endpoints and poll interval in the stack's config: one rule for the preview and for the providers,
which read the config again in the engine's provider host and must not take what the preview refuses."""

from __future__ import annotations

import pytest

from components.cloud.endpoints import EndpointConfigError, endpoints_from, timing_from
from components.cloud.provider import client_from
from components.config_parsing import ConfigError
from components.datasphere.api import DatasphereClient
from tests.test_settings import parse


def test_defaults_loopback_and_https_are_taken() -> None:
    assert endpoints_from({}).datasphere == "https://datasphere.api.cloud.yandex.net"
    chosen = endpoints_from({"vllm-datasphere:iamEndpoint": "http://127.0.0.1:8080/",
                             "vllm-datasphere:nodeApiEndpoint": "https://node-api.example/"})
    assert (chosen.iam, chosen.node_api) == ("http://127.0.0.1:8080", "https://node-api.example")
    assert timing_from({}).poll_interval == 10.0
    assert timing_from({"vllm-datasphere:pollIntervalSeconds": "2.5"}).poll_interval == 2.5


@pytest.mark.parametrize(("config", "said"), [
    ({"vllm-datasphere:datasphereEndpoint": "http://datasphere.example"},
     "vllm-datasphere:datasphereEndpoint = 'http://datasphere.example' must be an https:// URL (http:// only "
     "on loopback). Fix: pulumi config rm datasphereEndpoint (default https://datasphere.api.cloud.yandex.net)"),
    ({"vllm-datasphere:pollIntervalSeconds": "0"},
     "vllm-datasphere:pollIntervalSeconds = '0' must be a number of seconds above 0 and at most 60. Fix: "
     "pulumi config set pollIntervalSeconds 10"),
    ({"vllm-datasphere:pollIntervalSeconds": "soon"}, "pollIntervalSeconds = 'soon' must be a number"),
])
def test_a_provider_refuses_what_the_preview_refuses(config: dict[str, str], said: str) -> None:
    with pytest.raises(EndpointConfigError) as error:
        client_from(DatasphereClient, config)
    assert said in str(error.value)
    key = next(iter(config)).split(":", 1)[1]
    with pytest.raises(ConfigError) as refused:
        parse(**{key: config[next(iter(config))]})
    assert [problem.key for problem in refused.value.problems] == [key]
