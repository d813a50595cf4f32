"""The MongoDB wire protocol, emulated by mongo-java-server with its in-memory backend.

mongo-java-server 1.47.0 (Maven ``de.bwaldvogel``), the newest release. Its bundled main
classes bind a fixed address, so a few-line launcher (``MongoMain.java``, written into the cache
and compiled once with ``javac``) binds 127.0.0.1:PORT and blocks until SIGTERM; it also
advertises wire version 9 (see WIRE_VERSION). State is in memory: a restart empties it. It is an
emulator; real MongoDB is available through docker-compose or a URI to a real deployment.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from bench.engines.base import Engine, EngineError, LaunchSpec, Progress
from bench.engines.maven import (
    Artifact,
    fetch_artifacts,
    find_java,
    is_fetched,
    javac_for,
)

VERSION = "1.47.0"
ARTIFACTS = (
    Artifact("de.bwaldvogel", "mongo-java-server", VERSION),
    Artifact("de.bwaldvogel", "mongo-java-server-memory-backend", VERSION),
)
JAVA_VERSIONS = (17, 21, 11, 25)
# mongo-java-server 1.47.0 advertises wire version 8 (it labels it MongoDB 5.0, but 8 is 4.2's);
# current pymongo (>= 4.1x) refuses anything below 9. The wire version only feeds the handshake
# (no server behaviour depends on it), so the launcher advertises 9, the lowest pymongo accepts.
WIRE_VERSION = 9
LAUNCHER_REVISION = "2"  # bump when LAUNCHER changes, to recompile cached classes

LAUNCHER = """\
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.ServerVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/** mmbench: run mongo-java-server (memory backend) on HOST:PORT until SIGTERM. */
public class MongoMain {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args.length > 0 ? args[0] : "27017");
        String host = args.length > 1 ? args[1] : "127.0.0.1";
        int wire = Integer.parseInt(args.length > 2 ? args[2] : "9");
        MongoVersion advertised = new MongoVersion() {
            public List<Integer> getVersionArray() { return ServerVersion.MONGO_5_0.getVersionArray(); }
            public int getWireVersion() { return wire; }
        };
        MemoryBackend backend = new MemoryBackend();
        backend.version(advertised);
        MongoServer server = new MongoServer(backend);
        server.bind(host, port);
        System.out.println("mongo-java-server listening on " + host + ":" + port + ", wire version " + wire);
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.shutdownNow();
            done.countDown();
        }));
        done.await();
    }
}
"""


class MongoDB(Engine):
    """mongo-java-server on 127.0.0.1:27017."""

    name = "mongodb"
    product = "mongo-java-server (MongoDB wire-protocol emulator)"
    emulator = True
    port = 27017
    protocol = "the MongoDB wire protocol"
    default_timeout = 60.0
    stop_grace = 10.0

    @property
    def home(self) -> Path:
        """Cache directory of this version: ``pom.xml``, ``lib/``, ``MongoMain.java``, ``classes/``."""
        return self.cache_dir / VERSION

    def _fetch(self, progress: Progress) -> None:
        """Download the jars (Maven) and compile the launcher; no-op when cached."""
        java = find_java(self.name, JAVA_VERSIONS)
        stamp = self.home / "classes" / f"launcher-{LAUNCHER_REVISION}"
        if is_fetched(self.home) and stamp.is_file():
            return
        fetch_artifacts(
            self.name, ARTIFACTS, self.home, progress,
            label=f"mongo-java-server {VERSION}", java=java,
        )
        javac = javac_for(java)
        if javac is None:
            raise EngineError(
                "mongodb needs a Java JDK (javac) to build its launcher:"
                " apt-get install -y openjdk-17-jdk-headless"
            )
        src = self.home / "MongoMain.java"
        src.write_text(LAUNCHER)
        classes = self.home / "classes"
        classes.mkdir(exist_ok=True)
        res = subprocess.run(
            [javac, "-nowarn", "-cp", str(self.home / "lib" / "*"), "-d", str(classes), str(src)],
            capture_output=True, text=True,
        )
        if res.returncode != 0:
            raise EngineError(f"mongodb: javac failed on {src}\n{res.stderr.strip()[-2000:]}")
        stamp.write_text("")

    def _command(self) -> LaunchSpec:
        java = find_java(self.name, JAVA_VERSIONS)
        classpath = f"{self.home / 'classes'}:{self.home / 'lib' / '*'}"
        heap = os.environ.get("MMBENCH_MONGODB_HEAP", "1g")  # its data lives in the heap: scale 10 needs ~0.5 GB
        if not re.fullmatch(r"\d+[mMgG]", heap):
            raise EngineError(f"mongodb: MMBENCH_MONGODB_HEAP={heap!r}: a size such as 768m or 2g")
        return LaunchSpec(
            argv=[
                java, "-Xms64m", f"-Xmx{heap}", "-XX:+UseG1GC",
                "-cp", classpath, "MongoMain", str(self.port), self.host, str(WIRE_VERSION),
            ],
            cwd=self.runtime_dir,
        )

    def _probe(self, timeout: float) -> str:
        from pymongo import MongoClient

        ms = int(timeout * 1000)
        with MongoClient(
            self.host, self.port, directConnection=True,
            serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms,
        ) as client:
            client.admin.command("ping")
            info = client.admin.command("buildInfo")
        return str(info.get("version", "?"))

    def _version_for_status(self, probed: str) -> str:
        """Our own process is mongo-java-server: report its version, not the MongoDB it mimics."""
        return VERSION if self.pid() is not None else probed


ENGINE = MongoDB
