"""The model of `analytics`: warehouses (layer 2) and the pipelines that
deliver a queue's or a stream's events into a bucket or a warehouse (layer 5),
and the `uses` entries by which apps bind warehouses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Warehouse:
    """`analytics.warehouses[]`: Redshift Serverless, a BigQuery dataset or an
    Azure Data Explorer database."""

    name: str
    expire_tables_after_days: int | None
    path: tuple
    size: str | None = None  # AWS and Azure: small | medium | large | xlarge


@dataclass(frozen=True)
class Pipeline:
    """`analytics.pipelines[]`: `source` names a datastore (a queue or a
    stream); the destination is a bucket or a warehouse, one of the two."""

    name: str
    source: str
    bucket: str | None
    warehouse: str | None
    path: tuple

    @property
    def destination(self) -> str:
        return self.bucket if self.bucket is not None else self.warehouse

    @property
    def destination_path(self) -> tuple:
        return self.path + ("to", "bucket" if self.bucket is not None else "warehouse")


@dataclass(frozen=True)
class WarehouseUse:
    """An app's binding of a warehouse (`uses: [{warehouse: x, access: ...}]`):
    `access` is read-write or read-only; `path` is the entry's `warehouse`."""

    warehouse: str
    access: str
    path: tuple

    @property
    def read_only(self) -> bool:
        return self.access == "read-only"


def build_warehouses(data: dict) -> tuple[Warehouse, ...]:
    return tuple(
        Warehouse(
            w["name"], w.get("expireTablesAfterDays"), ("analytics", "warehouses", i), w.get("size")
        )
        for i, w in enumerate(data.get("analytics", {}).get("warehouses", []))
    )


def build_pipelines(data: dict) -> tuple[Pipeline, ...]:
    return tuple(
        Pipeline(
            p["name"],
            p["from"],
            p["to"].get("bucket"),
            p["to"].get("warehouse"),
            ("analytics", "pipelines", i),
        )
        for i, p in enumerate(data.get("analytics", {}).get("pipelines", []))
    )
