"""The catalog side of an ingest batch: each event's stack of slugs resolved to ids in one read."""

import logging
from collections import Counter
from operator import attrgetter

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from redis.exceptions import RedisError

from compat.models import Delegate, DeviceModel, MLModel, ModelVersion, Runtime, RuntimeVersion
from compat.services import catalog_versions_register

from .statements import any_of, prepared_cursor

# An event's catalog stack: (model, model_version, runtime, runtime_version, delegate); a batch has a handful.
stack_of = attrgetter("model", "model_version", "runtime", "runtime_version", "delegate")
StackIds = tuple[int, int, int]  # model_version_id, runtime_version_id, delegate_id
QUOTA_ERROR = "new version not registered: this API key reached its INGEST_NEW_VERSIONS_PER_DAY quota for today"
logger = logging.getLogger(__name__)
_local_quota: Counter = Counter()  # Redis unreachable: counted in this process


def new_versions_quota_take(*, key_prefix: str, wanted: int) -> int:
    """How many of `wanted` new catalog versions the key may still register today (UTC), taking them."""
    quota = settings.INGEST_NEW_VERSIONS_PER_DAY
    if wanted <= 0:
        return 0
    counter = f"ingest-new-versions:{key_prefix}:{timezone.now().date().isoformat()}"
    try:
        cache.add(counter, 0, timeout=2 * 86_400)
        used = cache.incr(counter, wanted)
    except (RedisError, OSError) as error:
        logger.warning("catalog quota: cache unavailable, counting in this process: %s", error)
        _local_quota[counter] += wanted
        used = _local_quota[counter]
    return max(0, min(wanted, quota - (used - wanted)))


def stacks_resolve(
    *, device_model: str, stacks: set[tuple], key_prefix: str = ""
) -> tuple[int | None, dict[tuple, StackIds | dict]]:
    """The device model's id, and for each stack its ids or its errors by field: one raw read (no ORM compilation).

    Only first sightings of a version go through catalog_versions_register, and only for stacks whose every slug
    is known (a rejected event registers nothing), within the key's daily quota of new versions.
    """
    runtime_pairs = {(runtime, version) for _, _, runtime, version, _ in stacks}
    model_pairs = {(model, version) for model, version, _, _, _ in stacks}
    runtimes, runtime_slugs = any_of({slug for slug, _ in runtime_pairs})
    delegates, delegate_slugs = any_of({delegate for *_, delegate in stacks})
    rv_versions, rv_params = any_of({v for _, v in runtime_pairs})
    models, model_slugs = any_of({slug for slug, _ in model_pairs})
    mv_versions, mv_params = any_of({v for _, v in model_pairs})
    t = {m: connection.ops.quote_name(m._meta.db_table) for m in (DeviceModel, Delegate, Runtime, RuntimeVersion,
                                                                   MLModel, ModelVersion)}  # fmt: skip
    sql = (
        f"SELECT 'm', '', slug, id FROM {t[DeviceModel]} WHERE slug = %s "  # noqa: S608
        f"UNION ALL SELECT 'M', '', slug, id FROM {t[MLModel]} WHERE slug {models} "
        f"UNION ALL SELECT 'R', '', slug, id FROM {t[Runtime]} WHERE slug {runtimes} "
        f"UNION ALL SELECT 'd', r.slug, d.slug, d.id FROM {t[Delegate]} d JOIN {t[Runtime]} r ON r.id = d.runtime_id "
        f"WHERE r.slug {runtimes} AND d.slug {delegates} "
        f"UNION ALL SELECT 'r', r.slug, v.version, v.id FROM {t[RuntimeVersion]} v JOIN {t[Runtime]} r "
        f"ON r.id = v.runtime_id WHERE r.slug {runtimes} AND v.version {rv_versions} "
        f"UNION ALL SELECT 'v', m.slug, v.version, v.id FROM {t[ModelVersion]} v JOIN {t[MLModel]} m "
        f"ON m.id = v.ml_model_id WHERE m.slug {models} AND v.version {mv_versions}"
    )
    params = [
        device_model,
        *model_slugs,
        *runtime_slugs,
        *runtime_slugs,
        *delegate_slugs,
        *runtime_slugs,
        *rv_params,
        *model_slugs,
        *mv_params,
    ]
    found: dict[str, dict] = {"m": {}, "M": {}, "R": {}, "d": {}, "r": {}, "v": {}}
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        for kind, parent, slug, pk in cursor.fetchall():
            found[kind][(parent, slug)] = pk
    runtime_versions, model_versions, delegate_ids = found["r"], found["v"], found["d"]
    device_model_id = found["m"].get(("", device_model))
    # Only the stacks that would be stored may register their versions: every slug known.
    storable = [
        (model, model_version, runtime, runtime_version)
        for model, model_version, runtime, runtime_version, delegate in stacks
        if device_model_id is not None and ("", model) in found["M"] and (runtime, delegate) in delegate_ids
    ]
    new_runtime_pairs = sorted({(r, rv) for _, _, r, rv in storable} - set(runtime_versions))
    new_model_pairs = sorted({(m, mv) for m, mv, _, _ in storable} - set(model_versions))
    allowed = new_versions_quota_take(key_prefix=key_prefix, wanted=len(new_runtime_pairs) + len(new_model_pairs))
    over_quota = {*new_runtime_pairs, *new_model_pairs}
    new_runtime_pairs = new_runtime_pairs[:allowed]
    new_model_pairs = new_model_pairs[: allowed - len(new_runtime_pairs)]
    over_quota -= {*new_runtime_pairs, *new_model_pairs}
    if new_runtime_pairs or new_model_pairs:
        registered_runtimes, registered_models = catalog_versions_register(
            runtime_versions=new_runtime_pairs, model_versions=new_model_pairs
        )
        runtime_versions.update({pair: rv.pk for pair, rv in registered_runtimes.items()})
        model_versions.update({pair: mv.pk for pair, mv in registered_models.items()})
    resolved = {}
    for stack in stacks:
        model, model_version, runtime, runtime_version, delegate = stack
        errors: dict[str, list[str]] = {}
        if device_model_id is None:
            errors["device.model"] = [f"unknown device model {device_model!r}"]
        model_version_id = model_versions.get((model, model_version))
        if ("", model) not in found["M"]:
            errors["model"] = [f"unknown model {model!r}"]
        elif (model, model_version) in over_quota:
            errors["model_version"] = [QUOTA_ERROR]
        runtime_version_id = runtime_versions.get((runtime, runtime_version))
        delegate_id = delegate_ids.get((runtime, delegate))
        if ("", runtime) not in found["R"]:
            errors["runtime"] = [f"unknown runtime {runtime!r}"]
        elif delegate_id is None:
            errors["delegate"] = [f"unknown delegate {delegate!r} for runtime {runtime!r}"]
        elif (runtime, runtime_version) in over_quota:
            errors["runtime_version"] = [QUOTA_ERROR]
        if not errors and None in (model_version_id, runtime_version_id):  # stack not storable: nothing registered
            errors["model_version" if model_version_id is None else "runtime_version"] = ["not registered"]
        resolved[stack] = errors or (model_version_id, runtime_version_id, delegate_id)
    return device_model_id, resolved
