"""Java and Maven helpers: find a suitable JVM, and fetch Maven Central artifacts into a cache.

An engine that ships as Maven artifacts gets a directory ``<cache>/<engine>/<version>/`` holding
a generated ``pom.xml`` and ``lib/`` (every runtime jar, copied by ``mvn dependency:copy-
dependencies``). A ``.complete`` marker is written last, so an interrupted download is redone
and a finished one is never repeated. Maven's own ``~/.m2`` caches the jars as well.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.engines.base import EngineError
from bench.engines.process import log_tail

JDK_ADVICE = "apt-get install -y openjdk-17-jdk-headless"
MAVEN_ADVICE = "apt-get install -y maven"
DEPENDENCY_PLUGIN = "3.6.1"


@dataclass(frozen=True)
class Artifact:
    """A Maven coordinate ``group:artifact:version``."""

    group: str
    artifact: str
    version: str

    def xml(self) -> str:
        return (
            f"    <dependency><groupId>{self.group}</groupId>"
            f"<artifactId>{self.artifact}</artifactId><version>{self.version}</version></dependency>"
        )


@functools.cache
def _java_major(java: str) -> int | None:
    """Major version of the JVM at ``java`` (cached per path for the life of the process)."""
    try:
        out = subprocess.run(
            [java, "-XshowSettings:properties", "-version"],
            capture_output=True, text=True, timeout=30,
        ).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"java\.specification\.version = (\d+)(?:\.(\d+))?", out)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def _java_candidates() -> list[str]:
    found: list[str] = []
    for home in (os.environ.get("MMBENCH_JAVA_HOME"), os.environ.get("JAVA_HOME")):
        if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
            found.append(os.path.join(home, "bin", "java"))
    on_path = shutil.which("java")
    if on_path:
        found.append(on_path)
    found += sorted(glob.glob("/usr/lib/jvm/*/bin/java"))
    unique: list[str] = []
    for cand in found:
        real = os.path.realpath(cand)
        if real not in {os.path.realpath(u) for u in unique}:
            unique.append(cand)
    return unique


def find_java(engine: str, versions: Sequence[int]) -> str:
    """Path of a ``java`` whose major version is in ``versions`` (first match wins).

    Looks at ``$MMBENCH_JAVA_HOME``, ``$JAVA_HOME``, ``PATH`` and ``/usr/lib/jvm/*``. Raises
    EngineError with one line of install advice when none fits.
    """
    seen: list[str] = []
    for java in _java_candidates():
        major = _java_major(java)
        if major is None:
            continue
        if major in versions:
            return java
        seen.append(f"{major}")
    wanted = "/".join(str(v) for v in versions)
    have = f" (found Java {', '.join(seen)})" if seen else ""
    raise EngineError(f"{engine} needs Java {wanted}{have}: {JDK_ADVICE}")


def javac_for(java: str) -> str | None:
    """The ``javac`` next to ``java`` (a JDK), or None for a bare JRE."""
    real = Path(os.path.realpath(java))
    cand = real.parent / "javac"
    return str(cand) if os.access(cand, os.X_OK) else shutil.which("javac")


def is_fetched(dest: Path) -> bool:
    """True when ``dest`` holds a completed download."""
    return (dest / ".complete").is_file() and (dest / "lib").is_dir()


def fetch_artifacts(
    engine: str,
    artifacts: Sequence[Artifact],
    dest: Path,
    progress: Callable[[str], None],
    *,
    label: str,
    java: str | None = None,
) -> Path:
    """Copy ``artifacts`` and their runtime dependencies into ``dest/lib``; no-op when cached.

    Returns ``dest/lib``. ``label`` names the download in the progress message.
    """
    lib = dest / "lib"
    if is_fetched(dest):
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise EngineError(f"{engine} needs Maven to download its jars: {MAVEN_ADVICE}")
    dest.mkdir(parents=True, exist_ok=True)
    pom = dest / "pom.xml"
    pom.write_text(_pom(engine, artifacts))
    staging = dest / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    progress(f"downloading {label} from Maven Central (once; cached in {dest})…")
    log = dest / "mvn.log"
    cmd = [
        mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    env = dict(os.environ)
    if java is not None:  # run Maven on the same JVM the engine will use
        env["JAVA_HOME"] = str(Path(os.path.realpath(java)).parent.parent)
    with open(log, "wb") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=dest, env=env).returncode
    if rc != 0 or not any(staging.glob("*.jar")):
        tail = log_tail([log])
        raise EngineError(
            f"{engine}: Maven could not download {label} (exit {rc}); see {log}"
            + (f"\n{tail}" if tail else "")
        )
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    (dest / ".complete").write_text("\n".join(sorted(p.name for p in lib.glob("*.jar"))) + "\n")
    return lib


def _pom(engine: str, artifacts: Sequence[Artifact]) -> str:
    deps = "\n".join(a.xml() for a in artifacts)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by mmbench: the runtime jars of the {engine} engine -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>mmbench.engines</groupId>
  <artifactId>{engine}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{DEPENDENCY_PLUGIN}</version>
      </plugin>
    </plugins>
  </build>
</project>
"""
