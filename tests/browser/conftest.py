"""JupyterLab and a headless Chromium for the browser tests, both started here and stopped afterwards.

The server listens on 127.0.0.1 on a free port with a random token, in a temporary folder with its own
config, settings and runtime folders, so the tests neither read nor touch your Jupyter setup or the
repository's notebooks (they run on copies). Chromium is Debian's (`/usr/bin/chromium`, or the path in
$GPTVIZ_CHROMIUM), driven by Playwright for Python without any browser download.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("GPTVIZ_TEST_ARTIFACTS", REPO / "test-artifacts")) / "browser"
CHROMIUM = os.environ.get("GPTVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
INSTALL_CHROMIUM = ("install Debian's Chromium with `apt-get update && apt-get install -y chromium` (as root), "
                    "or point GPTVIZ_CHROMIUM at a Chromium or Chrome executable")
INSTALL_PLAYWRIGHT = ("install Playwright for Python with `python -m pip install playwright` "
                      "(or `pip install -e .[dev]`); it needs no browser download, the tests use the system Chromium")
SERVER_START_S = 90
PAGE_TIMEOUT_S = 180

# JupyterLab user settings for the test server: no news prompt or update check (no network), and every cell
# attached to the page so the tests can see all outputs, not only those scrolled into view.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Lab:
    """A running JupyterLab: where it is, how to log in, and the folder it serves."""

    url: str
    token: str
    root: Path
    log: Path

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def add_notebook(self, source: Path) -> Path:
        """Copy a notebook into the served folder with its outputs cleared, so what the test sees is fresh."""
        nb = nbformat.read(source, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        nb.metadata.pop("widgets", None)
        nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
        target = self.root / source.name
        nbformat.write(nb, target)
        return target

    def log_size(self) -> int:
        return self.log.stat().st_size

    def log_since(self, offset: int) -> str:
        """What the server and its kernels logged after `offset` (errors in widget callbacks end up here)."""
        with open(self.log, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def notebook_url(self, notebook: Path) -> str:
        return f"{self.url}lab/tree/{notebook.relative_to(self.root).as_posix()}?token={self.token}"

    def shutdown_kernels(self) -> None:
        for session in self.api("GET", "api/sessions"):
            self.api("DELETE", f"api/sessions/{session['id']}")


@pytest.fixture(scope="session")
def lab(request, tmp_path_factory):
    """Start JupyterLab for the session; stop it (and its kernels) at the end; keep its log if a test failed."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root, home = base / "notebooks", base / "home"
    root.mkdir()
    for name, settings in LAB_SETTINGS.items():
        path = home / "lab-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    token, port = secrets.token_hex(24), _free_port()
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        JUPYTER_TOKEN=token,
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        IPYTHONDIR=str(home / "ipython"),
    )
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--ServerApp.root_dir={root}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = base / "jupyterlab.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(command, env=env, cwd=root, stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = Lab(url=f"http://127.0.0.1:{port}/", token=token, root=root, log=log)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {process.returncode} while starting:\n{_tail(log)}")
            try:
                server.api("GET", "api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer on {server.url} within {SERVER_START_S} s:\n{_tail(log)}")
                time.sleep(0.5)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)  # a clean stop also shuts its kernels down
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if request.session.testsfailed:
            artifact_path("jupyterlab", ".log").write_bytes(log.read_bytes())


@pytest.fixture
def fresh_kernels(lab):
    """Shut down the kernels a test started, so the next notebook runs alone on the CPU."""
    yield
    lab.shutdown_kernels()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"No Chromium at {CHROMIUM}: {INSTALL_CHROMIUM}.", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"Playwright is missing: {INSTALL_PLAYWRIGHT}.", pytrace=False)
    with sync_playwright() as driver:
        yield driver


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def artifact_path(name: str, suffix: str) -> Path:
    """Where to save a screenshot or log under test-artifacts/browser/ (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / (re.sub(r"[^\w.-]+", "_", name).strip("_") + suffix)


@pytest.fixture(name="artifact_path")
def artifact_path_fixture():
    return artifact_path


@pytest.fixture
def page(request, playwright, chromium_path, tmp_path):
    """A page in a headless Chromium with a fresh profile; on failure a screenshot and the console log are saved."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"), executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1200})
    browser_page = context.pages[0] if context.pages else context.new_page()
    browser_page.set_default_timeout(PAGE_TIMEOUT_S * 1000)  # JupyterLab loads slowly on a busy 2-core machine
    browser_page.set_default_navigation_timeout(PAGE_TIMEOUT_S * 1000)
    console: list[str] = []
    browser_page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    browser_page.on("pageerror", lambda error: console.append(f"page error: {error}"))
    browser_page.console_messages = console
    try:
        yield browser_page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is None or report.failed:
            try:
                browser_page.screenshot(path=artifact_path(request.node.name, "-failure.png"), full_page=True)
            except Exception as err:  # a dead page must not hide the test's own failure
                console.append(f"(screenshot failed: {err})")
            artifact_path(request.node.name, "-console.log").write_text("\n".join(console) + "\n")
        context.close()
