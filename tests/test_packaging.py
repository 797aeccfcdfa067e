"""The package ships every file it reads at run time (checked from setup.cfg, without a build)."""
import configparser
import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return cfg


def _lines(value: str) -> list[str]:
    return [v.strip() for v in value.replace(",", "\n").splitlines() if v.strip()]


def test_every_data_file_is_in_a_listed_package_and_matched_by_package_data():
    setuptools = pytest.importorskip("setuptools")
    cfg = _cfg()
    assert cfg["options"]["packages"].strip() == "find_namespace:"
    find = cfg["options.packages.find"]
    packages = set(setuptools.find_namespace_packages(
        where=str(ROOT), include=_lines(find["include"]), exclude=_lines(find["exclude"])))
    assert "nanograd_llm" in packages and "nanograd_llm.layers" in packages
    assert not any("__pycache__" in p for p in packages)
    patterns = {pkg: _lines(v) for pkg, v in cfg["options.package_data"].items()}
    data_files = [p for p in (ROOT / "nanograd_llm").rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc", ".nbi", ".nbc")
                  and "__pycache__" not in p.parts]
    assert data_files, "the embedded corpus should be found"
    for f in data_files:
        pkg = ".".join(f.parent.relative_to(ROOT).parts)
        assert pkg in packages, f"{f} lies in {pkg}, which setuptools would not ship"
        assert any(fnmatch.fnmatch(f.name, pat) for pat in patterns.get(pkg, [])), \
            f"{f.name} is not matched by package_data for {pkg}"


def test_the_embedded_corpus_is_where_the_package_reads_it():
    from nanograd_llm.data import EMBEDDED_PATH
    assert EMBEDDED_PATH.is_file()
    assert EMBEDDED_PATH.parent.name == "corpus"     # not "data": nanograd_llm/data.py is a module


def _package_imports(path: Path) -> set:
    """The package modules a file imports (relative imports anywhere in it, functions too)."""
    import ast
    pkg = Path(__file__).resolve().parents[1] / "nanograd_llm"
    parts = list(path.relative_to(pkg).with_suffix("").parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = parts[:len(parts) - node.level]
            if node.module:
                found.add(".".join(base + node.module.split(".")))
            else:
                found.update(".".join(base + [a.name]) for a in node.names)
    return found


def test_the_lowest_layers_never_import_from_above():
    """Imports flow one way: backend.py imports nothing from the package, a layer only backend
    and other layers (a helper once reached up from backend.py and layers/mlp.py into config.py
    for an error-message function, inside the functions, where no import cycle shows)."""
    pkg = Path(__file__).resolve().parents[1] / "nanograd_llm"
    assert _package_imports(pkg / "backend.py") == set()
    for f in sorted((pkg / "layers").glob("*.py")):
        if f.name == "__init__.py":
            continue
        above = {m for m in _package_imports(f)
                 if m != "backend" and not m.startswith("layers.")}
        assert not above, f"{f.name} imports {sorted(above)}"


def test_the_settings_take_only_public_names_from_the_run_folder():
    """config.py sits above run_folder.py (the run folder's checks never import the settings)
    and uses only its public names: it once imported the private `_check_not_locked`, a helper
    run_folder could rename or change without knowing that another module relied on it."""
    import ast
    pkg = ROOT / "nanograd_llm"
    assert not {"config", "train", "cli"} & _package_imports(pkg / "run_folder.py")
    private = sorted(f"{node.module}.{a.name}"
                     for node in ast.walk(ast.parse((pkg / "config.py").read_text("utf-8")))
                     if isinstance(node, ast.ImportFrom) and node.level
                     for a in node.names if a.name.startswith("_"))
    assert not private, private


def test_only_the_entry_point_imports_the_command_line():
    """cli.py sits on top: it imports the rest (inside its commands), nothing imports it but
    __main__.py. train.py once took Terminated / sigterm_raises from cli.py, so importing the
    library's trainer loaded the command line (and a top-level import in cli.py of anything
    that imports train would have been a cycle)."""
    pkg = Path(__file__).resolve().parents[1] / "nanograd_llm"
    importers = sorted(str(f.relative_to(pkg)) for f in pkg.rglob("*.py")
                       if f.name not in ("cli.py", "__main__.py") and "cli" in _package_imports(f))
    assert not importers, importers


def test_no_docstring_holds_a_character_utf8_cannot_encode():
    """A docstring of tests/test_cli_flags.py quoted a surrogate-escaped byte as '\\udcff' with
    one backslash: the docstring held a lone surrogate. Python 3.13 compiles docstrings through
    UTF-8 (it strips their indentation), so the module raised UnicodeEncodeError at import and
    pytest stopped the whole run at collection; 3.10-3.12 let it pass. Every docstring of the
    project's Python files must encode as UTF-8 (a string that is not a docstring may hold
    one)."""
    import ast
    bad = []
    files = [p for top in ("nanograd_llm", "tests", "examples", "benchmarks", "scripts")
             for p in (ROOT / top).rglob("*.py")]
    assert len(files) > 50
    for path in sorted(files):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                     ast.AsyncFunctionDef)):
                continue
            doc = ast.get_docstring(node, clean=False)
            try:
                (doc or "").encode("utf-8")
            except UnicodeEncodeError:
                bad.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 1)}")
    assert not bad, bad


def _declared_test_requirements() -> dict:
    """install_requires (as on Python 3.11) and the test extra, by normalized name."""
    requirements = pytest.importorskip("packaging.requirements")
    import re
    cfg = _cfg()
    lines = (cfg["options"]["install_requires"].splitlines()
             + cfg["options.extras_require"]["test"].splitlines())
    found = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        req = requirements.Requirement(line)
        if req.marker is None or req.marker.evaluate({"python_version": "3.11"}):
            found[re.sub(r"[-_.]+", "-", req.name).lower()] = req
    return found


def _lowest_pins() -> dict:
    import re
    text = (ROOT / "scripts" / "check_oldest_deps.sh").read_text(encoding="utf-8")
    match = re.search(r"^\s*LOWEST=\(([^)]*)\)", text, re.M)
    assert match, "scripts/check_oldest_deps.sh has no LOWEST=(...) pins for --all-extras"
    pins = {}
    for pin in match.group(1).split():
        name, version = pin.split("==")
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_the_all_extras_run_pins_every_test_dependency_within_setup_cfg():
    """scripts/check_oldest_deps.sh pinned NumPy, tqdm and threadpoolctl only (torch,
    transformers and Numba left out), so the run of the whole suite on the lowest versions of
    every test dependency could not be repeated. Its --all-extras mode pins each package of
    install_requires and the test extra, at a version setup.cfg allows."""
    declared = _declared_test_requirements()
    pins = _lowest_pins()
    assert sorted(pins) == sorted(declared)
    outside = {n: v for n, v in pins.items() if not declared[n].specifier.contains(v)}
    assert not outside, outside


def test_the_test_extra_declares_the_lowest_versions_that_ran():
    """The test extra said safetensors>=0.4 and regex>=2023.0, though transformers>=5.4 beside
    them needs safetensors>=0.4.3 and regex>=2025.10.22: a bound no install could reach, and
    never run. Each lower bound is now the version --all-extras pins (numpy>=1.24: 1.24.4, the
    series' last patch, as in the script's default mode)."""
    version = pytest.importorskip("packaging.version")
    declared = _declared_test_requirements()
    wrong = {}
    for name, pin in _lowest_pins().items():
        for spec in declared[name].specifier:
            if spec.operator not in (">=", "=="):
                continue
            bound = version.Version(spec.version).release
            got = version.Version(pin).release[:len(bound) if name == "numpy" else None]
            if got + (0,) * (len(bound) - len(got)) != bound + (0,) * (len(got) - len(bound)):
                wrong[name] = f"{spec} but --all-extras pins {pin}"
    assert not wrong, wrong


def test_the_tests_import_their_helpers_as_pytest_puts_them_on_the_path():
    """Eight tests imported `from tests._train_helpers import ...`, which only resolves when the
    repository root is on sys.path (`python -m pytest` run from it). A bare `pytest`, or the test
    suite of the sdist run against an installed wheel, put only tests/ there (pytest's rootdir
    insertion, as for `from _train_helpers import ...` everywhere else) and those eight failed with
    "No module named 'tests'". Every test module imports its helpers by their own name."""
    import ast
    bad = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(n == "tests" or n.startswith("tests.") for n in names):
                bad.append(f"{path.name}:{node.lineno}")
    assert not bad, bad


# The folders of a source checkout that the test suite reads (the package, the tests, and the
# examples, benchmarks and scripts that tests import, run or read), beside the files at the top.
_SOURCE_FOLDERS = ("nanograd_llm", "tests", "examples", "benchmarks", "scripts")
_TOP_FILES = ("README.md", "README.tr.md", "setup.cfg", "pyproject.toml", "MANIFEST.in",
              "LICENSE")


def _source_files() -> list[str]:
    """The files of the checkout (or unpacked sdist) in those folders, as posix paths."""
    files = list(_TOP_FILES)
    for top in _SOURCE_FOLDERS:
        for p in sorted((ROOT / top).rglob("*")):
            rel = p.relative_to(ROOT)
            if (p.is_file() and "__pycache__" not in rel.parts and p.suffix != ".pyc"
                    and not any(part.startswith(".") for part in rel.parts)):
                files.append(rel.as_posix())
    return files


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sdist and the wheel setuptools builds from a copy of the sources (the checkout itself
    is left as it is: a build writes an egg-info and build/ beside the sources), offline and
    without build isolation, with the setuptools of this interpreter (about 2 s)."""
    pytest.importorskip("setuptools")
    import shutil
    import subprocess
    import sys
    try:
        import setuptools.command.bdist_wheel  # noqa: F401  (setuptools >= 70.1)
    except ImportError:
        pytest.importorskip("wheel")
    base = tmp_path_factory.mktemp("build")
    src, dist = base / "src", base / "dist"
    for rel in _source_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, src / rel)
    # setuptools logs to stdout, so the two names go to a file of their own (and the arguments
    # are read first: build_meta rewrites sys.argv for the commands it runs)
    code = ("import sys, setuptools.build_meta as b; out, names = sys.argv[1:3]; "
            "s = b.build_sdist(out); w = b.build_wheel(out); "
            "open(names, 'w').write(s + '\\n' + w)")
    names = base / "names.txt"
    r = subprocess.run([sys.executable, "-c", code, str(dist), str(names)], cwd=src,
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail(f"the build failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    sdist_name, wheel_name = names.read_text().split()
    return dist / sdist_name, dist / wheel_name


def test_the_sdist_carries_every_file_the_test_suite_reads(built):
    """MANIFEST.in says the sdist carries the test suite with what it needs, but it left out
    benchmarks/ and scripts/: unpacked, its tests failed in test_benchmark_tools.py (44 errors, 6
    failures), and where test_docs, test_packaging and test_windows read benchmarks/ or
    scripts/check_oldest_deps.sh and scripts/build_corpus.py."""
    import tarfile
    sdist, _ = built
    with tarfile.open(sdist) as tar:
        top = sdist.name[:-len(".tar.gz")]
        shipped = {n.split("/", 1)[1] for n in tar.getnames() if n.startswith(top + "/")}
    missing = [f for f in _source_files() if f not in shipped]
    assert not missing, missing
    assert not [n for n in shipped if "__pycache__" in n or n.endswith(".pyc")]


def test_the_wheel_holds_the_package_and_its_data_and_nothing_else(built):
    """What `pip install` of the wheel puts in site-packages: every file of nanograd_llm/ that
    the package reads (its modules, the embedded corpus), the LICENSE in its metadata, and no
    tests, examples, caches or other top-level folders."""
    import zipfile
    _, wheel = built
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    package = {f for f in _source_files() if f.startswith("nanograd_llm/")}
    assert "nanograd_llm/corpus/turkce_aciklamalar.txt" in package
    assert sorted(package - names) == []
    dist_info = {n for n in names if n.split("/")[0].endswith(".dist-info")}
    assert sorted(names - package - dist_info) == []
    # setup.cfg says MIT, whose text asks to ship the notice with every copy
    assert [n for n in dist_info if n.rsplit("/", 1)[-1] == "LICENSE"], sorted(dist_info)
    metadata = next(n for n in dist_info if n.endswith("/entry_points.txt"))
    with zipfile.ZipFile(wheel) as z:
        assert "nanograd-llm = nanograd_llm.cli:main" in z.read(metadata).decode()


def test_a_message_naming_an_extra_also_names_its_packages_for_an_installed_wheel():
    """The messages for a missing optional dependency said only `pip install -e ".[docs]"`
    (".[plot]", ".[bpe]", ".[gpu]"), which works in a source checkout alone: someone who
    installed the wheel and runs `nanograd-llm docs` in a folder of their own got "does not
    appear to be a Python project" from pip. Each such message (outside docstrings) now also
    gives the plain `pip install` of the extra's packages, as listed in setup.cfg."""
    import ast
    import re
    extras = {name: [re.split(r"[<>=!~;\[ ]", line.strip(), maxsplit=1)[0]
                     for line in value.splitlines()
                     if line.strip() and not line.strip().startswith("#")]
              for name, value in _cfg()["options.extras_require"].items()}
    found, bad = 0, []
    for path in sorted((ROOT / "nanograd_llm").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                  ast.AsyncFunctionDef))
                and n.body and isinstance(n.body[0], ast.Expr)
                and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) \
                    or id(node) in docs:
                continue
            for extra in re.findall(r'pip install -e "\.\[([a-z,]+)\]"', node.value):
                found += 1
                packages = [p for e in extra.split(",") for p in extras[e]]
                if f"pip install {' '.join(packages)}" not in node.value.lower():
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} [{extra}]: "
                               f"{node.value!r}")
    assert found >= 6 and not bad, bad
