"""The shape of the house, read from the code's own imports (pure Python: no Django, no database).

Every project package is walked (a top-level folder with an __init__.py or apps.py, apart from tests, perf and
scripts), every import is parsed with ast (imports inside functions too, relative forms resolved), and the test
fails on: an import cycle among modules; an import that points up the layers; a module over MAX_LINES; a
migration that imports project code; a module importing another package's view module; and, inside telemetry, an
import from a lower room to a higher one.
"""

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_PACKAGES = {"tests", "perf", "scripts"}
MAX_LINES = 450  # STYLE.md: split a module when it passes ~400 lines
# The layers of the house, bottom first: a package may import its own layer's package only if it is itself, and
# any package of a lower layer. A new app goes into this table (the test fails until it does).
LAYERS = {
    "edgeportal_client": 0,  # the device SDK: imports no server package (the server uses its histogram)
    "core": 1,  # roles, permissions, API keys and their authentication, SLO targets, the chart helper
    "compat": 2,  # the catalog and the compatibility matrix
    "telemetry": 3,  # field telemetry: ingest, rollups, fleet and support pages, alerts
    "benchmarks": 3,  # lab runs, importers, regressions
    "protocols": 4,  # Sentry, OpenTelemetry, MQTT in and Prometheus out: adapters onto the telemetry ingest service
    "rollouts": 4,  # staged model rollouts: field arms from telemetry, lab regressions from benchmarks
    "readiness": 4,  # ship-readiness verdicts: compat cells judged on field KPIs, lab runs, regressions, crash groups
    "labfield": 4,  # lab meets field: the lab-vs-field gap per cell, regressions weighted by their field population
    "edgeportal": 5,  # the project: settings, URLs, celery app, KPI home (composes the apps)
}
# Inside telemetry, rooms from the ground up; a room imports only rooms on its own floor or below.
TELEMETRY_ROOMS = {
    "models": 0,  # raw rows, rollups, triage, alerts
    "kpi": 1,  # time buckets, Totals and the summed columns, the scope parser, grains, KPI selectors
    "ingest": 2,  # the ingest service, wire decoding, histograms, catalog resolution, bulk writes, partials
    "rollups": 2,  # hour/day compute, coarse grains, crash-group rollups, field evidence, locks, retention
    "alerts": 3,  # rules, evaluation, notifications
    "fleet": 3,  # fleet pages, charts, release comparison, fleet reads
    "support": 3,  # device and crash pages, triage services, filtersets
    "api": 4,  # the REST API
    "management": 4,
    "templatetags": 4,
    "migrations": 4,
    "": 4,  # modules at telemetry/ itself: tasks, admin, urls, demo, simulator, apps
}


def project_packages() -> list[str]:
    return sorted(
        path.name
        for path in ROOT.iterdir()
        if path.is_dir()
        and not path.name.startswith(".")
        and path.name not in NOT_PACKAGES
        and ((path / "__init__.py").exists() or (path / "apps.py").exists())
    )


@cache
def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of every project package."""
    found = {}
    for package in project_packages():
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if any(part.startswith(".") or part == "__pycache__" for part in parts):
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _resolve(name: str) -> str | None:
    """The project module an imported dotted name loads: itself, else its nearest project parent."""
    known = modules()
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


@cache
def imports() -> dict[str, list[tuple[str, int]]]:
    """Module -> [(imported project module, line)], every import statement of the file (functions included)."""
    known = modules()
    graph: dict[str, list[tuple[str, int]]] = {}
    for module, path in known.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges = []
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                    origin = ".".join([*base, node.module] if node.module else base)
                else:
                    origin = node.module or ""
                # `from pkg import name` loads the module pkg.name when there is one, else takes a name of pkg.
                targets = [
                    f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin for alias in node.names
                ]
            for target in targets:
                resolved = _resolve(target)
                if resolved is not None and resolved != module:
                    edges.append((resolved, node.lineno))
        graph[module] = edges
    return graph


def top(module: str) -> str:
    return module.partition(".")[0]


def is_migration(module: str) -> bool:
    return ".migrations." in f"{module}."


def is_view_module(module: str) -> bool:
    last = module.rpartition(".")[2]
    return last == "views" or last.endswith("_views")


def is_urls_module(module: str) -> bool:
    last = module.rpartition(".")[2]
    return last == "urls" or last.endswith("_urls")


def telemetry_room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or modules()[module].name != "__init__.py" and len(parts) == 2:
        return ""
    return parts[1]


def test_the_walk_sees_every_package_and_their_imports():
    packages = project_packages()
    assert {"core", "compat", "telemetry", "benchmarks", "edgeportal", "edgeportal_client"} <= set(packages)
    assert sum(len(edges) for edges in imports().values()) > 100


def test_every_package_has_a_layer():
    missing = [package for package in project_packages() if package not in LAYERS]
    assert not missing, f"put these apps into LAYERS in {Path(__file__).name}, with a comment: {missing}"


def test_no_import_cycle():
    graph = {module: sorted({target for target, _ in edges}) for module, edges in imports().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def connect(start: str) -> None:  # Tarjan's strongly connected components, iterative (no recursion limit)
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))

    for module in graph:
        if module not in index:
            connect(module)
    assert not circles, "import cycles:\n" + "\n".join(" <-> ".join(circle) for circle in circles)


def test_no_import_points_up_the_layers():
    wrong = []
    for module, edges in imports().items():
        here = top(module)
        for target, line in edges:
            there = top(target)
            if here == there or there not in LAYERS or here not in LAYERS:
                continue
            if here == "edgeportal_client" or LAYERS[there] >= LAYERS[here]:
                wrong.append(f"{modules()[module].relative_to(ROOT)}:{line} {module} -> {target}")
    assert not wrong, "imports that point up (or sideways) the layers:\n" + "\n".join(wrong)


def test_telemetry_rooms_import_only_down():
    wrong, unknown = [], set()
    for module, edges in imports().items():
        if top(module) != "telemetry":
            continue
        here = telemetry_room(module)
        if here not in TELEMETRY_ROOMS:
            unknown.add(here)
            continue
        for target, line in edges:
            if top(target) != "telemetry":
                continue
            there = telemetry_room(target)
            if there not in TELEMETRY_ROOMS:
                unknown.add(there)
            elif TELEMETRY_ROOMS[there] > TELEMETRY_ROOMS[here]:
                wrong.append(f"{modules()[module].relative_to(ROOT)}:{line} {module} -> {target}")
    assert not unknown, f"telemetry modules outside a known room (put them in TELEMETRY_ROOMS): {sorted(unknown)}"
    assert not wrong, "telemetry imports from a lower room to a higher one:\n" + "\n".join(wrong)


def test_telemetry_rooms_do_not_import_each_other():
    """Two rooms on one floor may lean on each other one way only (rollups read ingest's partial sums)."""
    pairs: dict[tuple[str, str], str] = {}
    for module, edges in imports().items():
        if top(module) != "telemetry":
            continue
        for target, line in edges:
            here, there = telemetry_room(module), telemetry_room(target)
            if top(target) == "telemetry" and here != there:
                pairs.setdefault((here, there), f"{module}:{line} -> {target}")
    both = [f"{pairs[a, b]}  and  {pairs[b, a]}" for a, b in pairs if (b, a) in pairs and a < b]
    assert not both, "telemetry rooms importing each other:\n" + "\n".join(both)


def test_no_module_is_over_the_size_limit():
    over = {
        str(path.relative_to(ROOT)): n
        for module, path in modules().items()
        if not is_migration(module) and (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not over, f"modules over {MAX_LINES} lines (split them by what they hold): {over}"


def test_migrations_import_no_project_code():
    wrong = [
        f"{modules()[module].relative_to(ROOT)}:{line} imports {target}"
        for module, edges in imports().items()
        if is_migration(module)
        for target, line in edges
        if not is_migration(target)
    ]
    assert not wrong, "migrations must be frozen (inline what they need):\n" + "\n".join(wrong)


def test_view_modules_are_not_imported_as_libraries():
    wrong = sorted(
        {
            f"{modules()[module].relative_to(ROOT)}:{line} {module} -> {target}"
            for module, edges in imports().items()
            if not is_urls_module(module)
            for target, line in edges
            if is_view_module(target) and target.rpartition(".")[0] != module.rpartition(".")[0]
        }
    )
    assert not wrong, "view modules imported from another package (move the shared code out):\n" + "\n".join(wrong)


def test_telemetry_rooms_import_project_code_at_the_top_only():
    """An import inside a function hides a dependency (often one dodging a cycle: the cycle test sees those too);
    the telemetry rooms below the top floor have none. Third-party imports (a PostgreSQL-only driver) may wait."""
    lines = {(module, line) for module, edges in imports().items() for _, line in edges}
    wrong = []
    for module, path in modules().items():
        if top(module) != "telemetry" or TELEMETRY_ROOMS.get(telemetry_room(module), 4) >= 4:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                nested = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
                wrong += [
                    f"{path.relative_to(ROOT)}:{n.lineno} in {node.name}()"
                    for n in nested
                    if (module, n.lineno) in lines
                ]
    assert not wrong, "project imports inside functions:\n" + "\n".join(sorted(set(wrong)))


def test_layer_table_has_no_stale_rows():
    stale = sorted(set(LAYERS) - set(project_packages()))
    assert not stale, f"LAYERS names packages that do not exist: {stale}"
