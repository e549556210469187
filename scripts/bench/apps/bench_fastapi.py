"""The benchmark's FastAPI application (asgi-json), the same for every
server: a small pydantic model, built and serialized by FastAPI on every
request (the response_model's validation and pydantic-core's JSON), about
200 bytes of application/json.

  /json     the model as JSON
  /loop     the module of the running event loop's class, as in bench_asgi.py

Needs FastAPI (with Starlette and pydantic), which bench.sh installs in
build/bench/venv at the versions it pins.
"""
import asyncio

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


class Item(BaseModel):
    id: int
    name: str
    description: str
    price: float
    tax: float | None = None
    tags: list[str] = []
    in_stock: bool


@app.get("/json", response_model=Item)
async def json_item():
    return Item(id=42, name="Widget",
                description="A small widget, made up for the benchmark to measure FastAPI's JSON path.",
                price=12.5, tax=2.5, tags=["bench", "asgi", "fastapi", "pydantic"], in_stock=True)


@app.get("/loop", response_class=PlainTextResponse)
async def loop():
    return type(asyncio.get_running_loop()).__module__.split(".")[0]
