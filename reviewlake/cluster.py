"""A Spark standalone cluster on this machine, and spark-submit of the stages to any cluster.

The cluster is a master and N workers on 127.0.0.1 started from the pip pyspark (`bin/spark-class
org.apache.spark.deploy.master.Master` / `...deploy.worker.Worker`: the pip package has no sbin/ scripts).
Stages submitted to it run as on a real cluster: executors in their own JVMs under the workers, the jars
shipped with --jars, and the project's code shipped as an archive that each executor unpacks into its working
directory and puts first on its Python path. The driver (client mode: the CLI process or an Airflow worker)
keeps using its installed reviewlake, whose package data (log4j settings, training data, templates) must be
real files, which a --py-files zip on the driver's path would hide.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from reviewlake.config import Config
from reviewlake.errors import UserError

STATE_FILE = "cluster.json"
CODE_PACKAGES = ("reviewlake", "jobs", "udfs", "queries", "schemas", "expectations")
CODE_ALIAS = "reviewlake_code"          # the directory the archive is unpacked into on each executor
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT_NAME = "cluster"           # under the cache directory


@dataclass(frozen=True)
class ClusterState:
    master_url: str
    web_url: str
    pids: tuple[int, ...]     # master first
    root: str


def _spark_home() -> Path:
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cluster_state(root: Path) -> ClusterState | None:
    """The cluster started under `root`, if its processes still run."""
    try:
        data = json.loads((root / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    state = ClusterState(data["master_url"], data["web_url"], tuple(data["pids"]), data["root"])
    return state if any(_alive(pid) for pid in state.pids) else None


def master_status(web_url: str) -> dict:
    """The master's own JSON status (workers, cores, running applications), {} when it does not answer."""
    try:
        with urllib.request.urlopen(f"{web_url}/json/", timeout=5) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return {}


def start_cluster(root: Path, workers: int = 2, cores_per_worker: int = 1, memory_per_worker: str = "3g",
                  port: int = 7077, web_port: int = 8080, timeout_s: float = 180,
                  say: Callable[[str], None] = print) -> ClusterState:
    """Start a master and `workers` workers bound to 127.0.0.1; return once every worker has registered."""
    root = root.resolve()
    if (running := cluster_state(root)) is not None:
        raise UserError(f"a cluster started under {root} is already running at {running.master_url}; "
                        "stop it first (reviewlake cluster stop)")
    (root / "logs").mkdir(parents=True, exist_ok=True)
    # SPARK_LOCAL_IP keeps every socket (RPC and web UIs) on the loopback interface.
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    master_url, web_url = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web_port}"
    spark_class = str(_spark_home() / "bin" / "spark-class")
    commands = [[spark_class, MASTER_CLASS, "--host", "127.0.0.1", "--port", str(port), "--webui-port",
                 str(web_port)]]
    for index in range(workers):
        work_dir = root / "work" / f"worker-{index}"
        work_dir.mkdir(parents=True, exist_ok=True)
        commands.append([spark_class, WORKER_CLASS, "--host", "127.0.0.1", "--cores", str(cores_per_worker),
                         "--memory", memory_per_worker, "--work-dir", str(work_dir), "--webui-port", "0",
                         master_url])
    pids: list[int] = []
    try:
        for index, command in enumerate(commands):
            name = "master" if index == 0 else f"worker-{index - 1}"
            with open(root / "logs" / f"{name}.log", "w") as log:
                pids.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True).pid)
            if index == 0:
                _wait(lambda: master_status(web_url), timeout_s, "the master's web status", root, pids)
        _wait(lambda: master_status(web_url).get("aliveworkers", 0) >= workers, timeout_s,
              f"{workers} workers to register", root, pids)
    except BaseException:
        _terminate(pids)
        raise
    state = ClusterState(master_url, web_url, tuple(pids), str(root))
    (root / STATE_FILE).write_text(json.dumps(asdict(state)))
    say(f"cluster up: {master_url} ({workers} workers x {cores_per_worker} core, {memory_per_worker}); "
        f"web UI {web_url}; logs under {root / 'logs'}")
    return state


def _wait(ready: Callable[[], object], timeout_s: float, what: str, root: Path, pids: list[int]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if not all(_alive(pid) for pid in pids):
            raise UserError(f"a cluster process exited while waiting for {what}; see {root / 'logs'}")
        time.sleep(1)
    raise UserError(f"timed out after {timeout_s:.0f}s waiting for {what}; see {root / 'logs'}")


def _terminate(pids: list[int] | tuple[int, ...], grace_s: float = 30) -> None:
    # Workers first (they kill their executors on SIGTERM), the master last.
    for pid in reversed(pids):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)       # reap our own children, or they stay "alive" as zombies
        time.sleep(0.5)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def stop_cluster(root: Path, say: Callable[[str], None] = print) -> bool:
    """Stop the cluster started under `root` (SIGTERM, then SIGKILL after 30 s); False if none was running."""
    state = cluster_state(root.resolve())
    if state is None:
        (root / STATE_FILE).unlink(missing_ok=True)
        return False
    _terminate(state.pids)
    (root / STATE_FILE).unlink(missing_ok=True)
    say(f"cluster at {state.master_url} stopped")
    return True


def code_archive(config: Config) -> Path:
    """The project's Python packages as one zip under the cache, named by the hash of their content (built once
    per code version)."""
    files = sorted(p for package in CODE_PACKAGES for p in (REPO / package).rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts)
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    target = config.cache_dir / "code" / f"reviewlake-code-{digest.hexdigest()[:12]}.zip"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(REPO))
        partial.replace(target)
    return target


def executor_code_conf(archive: str) -> dict[str, str]:
    """Spark settings that ship the code archive (a path, or a template of one) to every executor and put it
    first on its Python path."""
    return {"spark.archives": f"{archive}#{CODE_ALIAS}", "spark.executorEnv.PYTHONPATH": CODE_ALIAS}


def submit_command(config: Config, master: str, stage: str, application_args: list[str],
                   executor_memory: str = "2g") -> list[str]:
    """The spark-submit command line of one stage against `master` (client mode)."""
    from reviewlake.orchestration import stage_application
    from reviewlake.spark import LOG4J_CONFIG, ensure_jars

    conf = {"spark.driver.memory": config.spark.driver_memory, "spark.executor.memory": executor_memory,
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}",
            **executor_code_conf(str(code_archive(config)))}
    command = [str(_spark_home() / "bin" / "spark-submit"), "--master", master, "--deploy-mode", "client",
               "--name", f"reviewlake-{stage}", "--jars", ",".join(ensure_jars(config))]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, stage_application(stage), *application_args]


def submit_environment(master: str) -> dict[str, str]:
    """spark-submit's environment: a driver for a master on this machine listens on loopback only (a remote
    cluster must reach the driver, so it keeps Spark's choice of interface)."""
    env = dict(os.environ)
    if urllib.parse.urlparse(master).hostname in ("127.0.0.1", "localhost"):
        env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env
