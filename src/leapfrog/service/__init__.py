"""The service SDK: what a team imports so its own service uses the platform.

```python
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from leapfrog.service import run

async def hello(request):
    return PlainTextResponse("Hello world!")

run(Starlette(routes=[Route("/", hello)]), "hello", check="http")
```

docs/sdk.md takes it from there: check modes, logging, metrics, discovery, shutdown.
"""

from leapfrog.service._consul import ConsulAgent, ConsulError
from leapfrog.service._discovery import (
    Discovery,
    NoInstances,
    ServiceClient,
    ServiceInstance,
    discover,
)
from leapfrog.service._health import Health
from leapfrog.service._identity import IDENTITY_ENV, Identity
from leapfrog.service._kafka import AsyncProducer, KafkaSendError
from leapfrog.service._registration import service_definition
from leapfrog.service._service import Service, run
from leapfrog.service._settings import CheckMode, ServiceSettings, SettingsError

__all__ = [
    "IDENTITY_ENV",
    "AsyncProducer",
    "CheckMode",
    "ConsulAgent",
    "ConsulError",
    "Discovery",
    "Health",
    "Identity",
    "KafkaSendError",
    "NoInstances",
    "Service",
    "ServiceClient",
    "ServiceInstance",
    "ServiceSettings",
    "SettingsError",
    "discover",
    "run",
    "service_definition",
]
