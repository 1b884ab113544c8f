"""``open_teacher``: from a recipe's ``TeacherSpec`` to a ready ``Teacher``.

For kind ``embedded`` it starts the local llama.cpp server on the GGUF (the bundled
SmolLM2, or a path in ``teacher.model``), for kind ``lab`` the lab's scripted teacher
(``engine.lab.launch``); the returned teacher stops either on ``close()``. For kind
``openai`` it resolves the key (environment, then keyring) and the price; with
``teacher.endpoints`` one key per server, and the teacher sends through an
``EndpointPool`` (engine/teacher/pool.py). Nothing is sent until the first request.
"""

from __future__ import annotations

from engine.errors import DistillabError
from engine.recipes import TeacherSpec
from engine.store import Store
from engine.teacher import local
from engine.teacher.client import Teacher
from engine.teacher.keys import resolve_key
from engine.teacher.pool import EndpointPool, Member
from engine.teacher.prices import FREE, price_for
from engine.teacher.probe import ProbeReport, probe_endpoint

OPENAI_URL = "https://api.openai.com/v1"


def open_teacher(spec: TeacherSpec, *, store: Store | None = None, run_id: int | None = None,
                 stage: str | None = None, backoff_s: float = 1.0) -> Teacher:
    """A teacher for ``spec``; with ``store`` and ``run_id`` it caches, audits and budgets.

    Use it as a context manager (or call ``close()``) so an embedded server is stopped.
    ``backoff_s`` is the first retry's delay (doubling after each failed attempt).
    """
    if spec.kind == "embedded":
        gguf = local.gguf_for(spec.model)
        server = local.EmbeddedServer(gguf, n_ctx=spec.context_length).start()
        # llama-cpp-python's server runs one request at a time and loses time switching
        # between concurrent ones (6 distinct prompts: 36 s at 6 in flight, 19.6 s one by
        # one, SmolLM2-135M on 2 cores), so the embedded teacher always sends one at a time.
        spec = spec.model_copy(update={"concurrency": 1})
        return Teacher(spec, base_url=server.base_url, model=local.ALIAS,
                       api_key=server.api_key, identity=local.model_identity(gguf),
                       price=FREE, store=store, run_id=run_id, stage=stage, server=server,
                       backoff_s=backoff_s)
    if spec.kind == "lab":
        from engine.lab.launch import LabProcess
        from engine.lab.scripted import LabOptions

        lab = spec.lab.model_dump() if spec.lab is not None else {}
        process = LabProcess(LabOptions(**lab)).start()
        return Teacher(spec, base_url=process.base_url, model="lab", api_key=process.api_key,
                       identity=process.options.identity, price=FREE, store=store,
                       run_id=run_id, stage=stage, server=process, backoff_s=backoff_s)
    if spec.endpoints:
        return _open_pool(spec, store=store, run_id=run_id, stage=stage, backoff_s=backoff_s)
    base_url = (spec.base_url or OPENAI_URL).rstrip("/")
    key = resolve_key(base_url, spec.api_key_env, use_keyring=spec.use_keyring)
    price = price_for(spec.model, base_url=base_url,
                      override=(spec.price_input_per_m, spec.price_output_per_m))
    if price is None and spec.budget.max_usd is not None:
        raise DistillabError(
            f"teacher.budget.max_usd is set, but there is no price for model {spec.model!r} "
            f"at {base_url}",
            "set teacher.price_input_per_m and teacher.price_output_per_m (USD per million "
            "tokens), add the model to prices.json in the data dir, or cap max_tokens instead")
    return Teacher(spec, base_url=base_url, model=spec.model, api_key=key, identity=base_url,
                   price=price, store=store, run_id=run_id, stage=stage, backoff_s=backoff_s)


def _open_pool(spec: TeacherSpec, *, store: Store | None, run_id: int | None,
               stage: str | None, backoff_s: float) -> Teacher:
    """A teacher over ``spec.endpoints`` (engine/teacher/pool.py): one key and model per
    server, one price (the recipe's model's)."""
    assert spec.endpoints
    members = [Member(base_url=e.base_url, model=e.model or spec.model, weight=e.weight,
                      key=resolve_key(e.base_url, e.api_key_env or spec.api_key_env,
                                      use_keyring=spec.use_keyring))
               for e in spec.endpoints]
    pool = EndpointPool(members, spec.endpoint_down_s)
    first = members[0].base_url
    price = price_for(spec.model, base_url=first,
                      override=(spec.price_input_per_m, spec.price_output_per_m))
    if price is None and spec.budget.max_usd is not None:
        raise DistillabError(
            f"teacher.budget.max_usd is set, but there is no price for model {spec.model!r}",
            "set teacher.price_input_per_m and teacher.price_output_per_m (USD per million "
            "tokens), or cap max_tokens instead")
    return Teacher(spec, base_url=first, model=spec.model, api_key=members[0].key,
                   identity=pool.identity, price=price, store=store, run_id=run_id,
                   stage=stage, backoff_s=backoff_s, pool=pool)


def probe_teacher(spec: TeacherSpec) -> ProbeReport:
    """Probe the teacher a recipe names (starting the embedded server for the time it takes)."""
    with open_teacher(spec) as teacher:
        return probe_endpoint(teacher.base_url, teacher.model, teacher._key, timeout_s=spec.timeout_s)
