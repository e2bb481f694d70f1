"""The install files agree with each other."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def names(requirements):
    return {re.split(r"[<>=!~ \[]", r.strip(), maxsplit=1)[0].lower() for r in requirements}


def environment_packages() -> set[str]:
    """Package names listed under `dependencies:` in environment.yml (conda and pip sections)."""
    lines = (ROOT / "environment.yml").read_text().splitlines()
    items = [line.strip()[2:] for line in lines[lines.index("dependencies:") :] if line.strip().startswith("- ")]
    return names(i for i in items if i not in ("pip", "pip:", "-e .") and not i.startswith("python="))


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = names(project["dependencies"]) | names(project["optional-dependencies"]["dev"])
    listed = environment_packages()
    assert wanted == listed, f"only in pyproject: {wanted - listed}; only in environment.yml: {listed - wanted}"
    assert "      - -e ." in (ROOT / "environment.yml").read_text()  # installs the project itself


def test_torch_range_admits_the_cpu_build_ci_installs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (torch_req,) = [r for r in project["dependencies"] if r.startswith("torch")]
    assert torch_req == "torch>=2.2,<3"  # 2.13.0 satisfies it; .ci/run installs exactly that build first
    assert "torch==2.13.0" in (ROOT / ".ci" / "run").read_text()


def test_package_data_ships_every_data_file_and_the_chat_model():
    from gptviz.chat import chat_model_dir

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["gptviz"]
    package = ROOT / "gptviz"
    shipped = {path for pattern in globs for path in package.glob(pattern) if path.is_file()}
    data = {path for path in (package / "data").rglob("*") if path.is_file()}
    assert data and data <= shipped, f"not shipped: {sorted(map(str, data - shipped))}"
    model_files = {path.name for path in chat_model_dir().iterdir()}
    assert {"config.json", "model.safetensors"} <= model_files
    assert chat_model_dir().resolve() == (package / "data" / "chat_model").resolve()
