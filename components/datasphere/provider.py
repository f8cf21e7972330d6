"""Base of the DataSphere providers: the shared provider machinery, speaking the DataSphere API."""

from __future__ import annotations

from components.cloud.provider import CloudProvider
from components.datasphere.api import DatasphereClient


class DatasphereProvider(CloudProvider[DatasphereClient]):
    client_class = DatasphereClient
