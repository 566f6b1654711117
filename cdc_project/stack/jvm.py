"""How the local stack runs its JVM services: the java binary, class paths from the installed jars, heaps.

The jars come from Maven Central through `cdc_project/stack/maven/pom.xml` (scripts/install.sh copies them
into `StackSettings.jvm_dir`); nothing here downloads. Heaps are explicit: the machine has 2 cores and the
broker, the Connect worker, PostgreSQL and Dagster share them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cdc_project.core.errors import ServiceUnhealthyError

# -Xms = -Xmx: the heap is taken once at start, so a busy stack cannot grow a JVM into the others' memory.
BROKER_HEAP = "512m"
CONNECT_HEAP = "768m"
JVM_FLAGS = ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true", "-XX:+ExitOnOutOfMemoryError"]


def java_binary() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise ServiceUnhealthyError("java", "(none)", "no java on PATH and no JAVA_HOME: run `make install`")
    return found


def class_path(jar_dir: Path) -> str:
    jars = sorted(jar_dir.glob("*.jar"))
    if not jars:
        raise ServiceUnhealthyError(
            "jvm", str(jar_dir), f"no jars in {jar_dir}: run `make install` (it copies them from Maven Central)"
        )
    return ":".join(str(j) for j in jars)


def java_command(jar_dir: Path, heap: str, log4j_config: Path, main_class: str, *args: str) -> list[str]:
    return [
        java_binary(),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        *JVM_FLAGS,
        f"-Dlog4j2.configurationFile={log4j_config}",
        "-cp",
        class_path(jar_dir),
        main_class,
        *args,
    ]


def write_log4j_config(path: Path) -> Path:
    """INFO to stdout (the service's log file); the chattiest client loggers at WARN."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "\n".join(
            [
                "status = warn",
                "appender.out.type = Console",
                "appender.out.name = out",
                "appender.out.layout.type = PatternLayout",
                "appender.out.layout.pattern = [%d] %p %m (%c{1})%n",
                "rootLogger.level = info",
                "rootLogger.appenderRef.out.ref = out",
                "logger.clients.name = org.apache.kafka.clients",
                "logger.clients.level = warn",
                "logger.common.name = org.apache.kafka.common",
                "logger.common.level = warn",
                "logger.reflections.name = org.reflections",
                "logger.reflections.level = error",
                "",
            ]
        )
    )
    return path
