"""A component for unit tests of the runtime's wiring: no program, just the contract."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from leapfrog.components.base import (
    Component,
    ComponentOptions,
    Health,
    Installation,
    Instance,
    Process,
    Progress,
)


class FakeDbOptions(ComponentOptions):
    port: int = Field(7000, description="Port.")
    database: str = Field("app", description="Database name.")
    cache_mb: int = Field(64, description="Written to its config file only.")


class FakeDb(Component[FakeDbOptions]):
    kind = "fakedb"
    options_model = FakeDbOptions
    default_port = 7000
    description = "a database that is not there"

    def install(self, options: FakeDbOptions, cache_dir: Path, progress: Progress) -> Installation:
        progress("nothing to download")
        return Installation(version="1.2.3", home=cache_dir / "fakedb")

    def process(
        self, options: FakeDbOptions, installation: Installation, where: Instance
    ) -> Process:
        return Process(
            argv=("fakedb", "--listen", f"{where.address}:{where.port}"),
            env={"FAKEDB_HOME": str(installation.home)},
            files={"fake.conf": f"cache_mb={options.cache_mb}\n"},
            init=(("true",),),
            stop_signal="SIGINT",
            stop_grace_period=7.0,
        )

    async def health(self, options: FakeDbOptions, where: Instance) -> Health:
        return Health(False, "not running")

    def connection_env(self, options: FakeDbOptions, where: Instance) -> dict[str, str]:
        return {"FAKEDB_URL": f"fake://{where.address}:{where.port}/{options.database}"}
