"""hello: greets on GET /, and turns each POST /events into a Kafka record.

POST /events answers 202 only after the broker acknowledged the record (acks=all), so an
accepted event is never lost; a body that is not a valid event gets 400 saying why.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from leapfrog.service import AsyncProducer, KafkaSendError, Service

TOPIC = os.environ.get("EVENTS_TOPIC", "events")
INSTANCE = os.environ.get("LEAPFROG_INSTANCE", socket.gethostname())


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(min_length=1, max_length=100)
    data: dict[str, object] = Field(default_factory=dict)
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=100)


async def greet(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"Hello world! from {socket.gethostname()} ({INSTANCE})\n")


async def post_event(request: Request) -> JSONResponse:
    try:
        event = Event.model_validate_json(await request.body())
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        ]
        return JSONResponse({"error": "not a valid event", "problems": problems}, 400)
    record = {**event.model_dump(), "accepted_at": time.time(), "accepted_by": INSTANCE}
    producer: AsyncProducer = request.app.state.producer
    try:
        partition, offset = await producer.send(TOPIC, json.dumps(record).encode(), key=event.id)
    except KafkaSendError as exc:
        service.logger.error("event not accepted", extra={"event_id": event.id, "why": str(exc)})
        return JSONResponse({"error": f"not accepted, try again: {exc}"}, 503)
    service.logger.info("event accepted", extra={"event_id": event.id, "event_type": event.type})
    return JSONResponse({"id": event.id, "partition": partition, "offset": offset}, 202)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.producer = AsyncProducer()
    yield
    app.state.producer.close()


app = Starlette(
    routes=[Route("/", greet), Route("/events", post_event, methods=["POST"])],
    lifespan=lifespan,
)
service = Service(app, "hello", check="http")

if __name__ == "__main__":
    service.run()
