"""Stacks across runs, as plain data: the tags apply records, the stacks that
left the platform and their destroy order, the removals that must wait, and
the outputs a run must not drop from under a deployed reader."""

from __future__ import annotations

from pathlib import Path

from crosswalk.compiler.apply import Manifest, StackSpec, run_stacks
from crosswalk.compiler.lifecycle import (
    TAG_VALUE_LIMIT,
    blocked_removals,
    could_belong,
    deployed_from_tags,
    dropped_outputs,
    drops_any,
    record_tags,
    removed_stacks,
)


def spec(directory: str, project: str, exports=(), reads=()) -> StackSpec:
    return StackSpec(directory, project, "layer", (), "", tuple(exports), tuple(reads))


SERVICES = spec("05-app-services", "acme-app-services", exports=["db_host", "db_port"])
SHOP = spec("06-apps/shop", "acme-app-shop", reads=[("05-app-services", ("db_host",))])


def deployed_as(*specs: StackSpec, platform: str = "acme") -> dict:
    return {s.project: deployed_from_tags(s.project, record_tags(platform, s)) for s in specs}


def test_tags_carry_what_a_stack_exports_and_reads_and_read_back() -> None:
    tags = record_tags("acme", SHOP)
    assert tags["crosswalk:platform"] == "acme" and tags["crosswalk:stack"] == "06-apps/shop"
    back = deployed_from_tags("acme-app-shop", tags)
    assert back.reads == {"05-app-services": ("db_host",)} and back.exports == ()
    assert back.dir == "06-apps/shop" and back.platform == "acme"


def test_long_lists_take_several_tags_none_longer_than_a_tag_holds() -> None:
    outputs = tuple(f"datastore_store{n:03}_host" for n in range(60))
    big = spec("05-app-services", "acme-app-services", exports=outputs)
    tags = record_tags("acme", big)
    assert all(len(value) <= TAG_VALUE_LIMIT for value in tags.values())
    assert "crosswalk:exports.2" in tags and "crosswalk:exports.5" in tags
    assert deployed_from_tags(big.project, tags).exports == outputs


def test_untagged_stacks_say_nothing() -> None:
    nothing = deployed_from_tags("acme-app-old", {})
    assert nothing.exports is None and nothing.reads is None and nothing.platform is None
    assert drops_any(SERVICES, nothing), "unknown exports might be dropped"
    assert not drops_any(SERVICES, deployed_as(SERVICES)["acme-app-services"])
    assert drops_any(
        spec("05-app-services", "acme-app-services", exports=["db_host"]),
        deployed_as(SERVICES)["acme-app-services"],
    )


def test_the_names_a_platform_could_own() -> None:
    assert could_belong("acme", "acme-app-shop") and could_belong("acme", "acme-cluster")
    assert not could_belong("acme", "acme-something") and not could_belong("acme", "other-cluster")


def manifest(*stacks: StackSpec) -> Manifest:
    return Manifest("acme", "aws", ("dev",), tuple(stacks), Path("."))


def test_removed_stacks_are_this_platforms_only_in_a_safe_destroy_order() -> None:
    old_api = spec("06-apps/api", "acme-app-api", reads=[("05-app-services", ("db_host",))])
    # A removed app that reads another removed stack (say a future optional layer).
    reader = spec("06-apps/reader", "acme-app-reader", reads=[("06-apps/api", ("url",))])
    theirs = spec("01-identity", "acme-app-theirs")
    deployed = deployed_as(SERVICES, SHOP, old_api, reader) | deployed_as(
        theirs, platform="acme-app"
    )
    deployed["acme-app-untagged"] = deployed_from_tags("acme-app-untagged", {})
    removed = removed_stacks(manifest(SERVICES, SHOP), deployed)
    assert [s.dir for s in removed] == ["06-apps/api", "06-apps/reader"]
    assert all(s.removed for s in removed)
    assert removed[1].depends_on == ("06-apps/api",)
    assert removed[0].depends_on == ("05-app-services",), "it read a stack of the tree"

    order = []

    class Recorder:
        def destroy(self, stack, io):
            order.append(stack.dir)

    run_stacks(removed, "destroy", Recorder(), parallel=1, reverse=True)
    assert order == ["06-apps/reader", "06-apps/api"], "readers first"


def test_a_removed_stack_waits_for_the_updates_that_stop_reading_it() -> None:
    gone = spec("06-apps/api", "acme-app-api")
    # Deployed, the shop still reads the removed api; its update stops that.
    shop_before = spec("06-apps/shop", "acme-app-shop", reads=[("06-apps/api", ("url",))])
    deployed = deployed_as(gone, shop_before)
    tree = {"06-apps/shop"}
    removed = removed_stacks(manifest(SHOP), deployed)
    assert blocked_removals(removed, deployed, updated={"06-apps/shop"}, tree=tree) == {}
    assert blocked_removals(removed, deployed, updated=set(), tree=tree) == {
        "06-apps/api": "still read by 06-apps/shop, whose update did not succeed"
    }


def test_dropping_an_output_a_deployed_reader_outside_the_run_reads() -> None:
    services_now = spec("05-app-services", "acme-app-services", exports=["db_port"])
    deployed = deployed_as(SERVICES, SHOP)
    dropped = dropped_outputs([services_now], deployed, leaving={"05-app-services"})
    assert [(d.exporter, d.output, d.reader) for d in dropped] == [
        ("05-app-services", "db_host", "06-apps/shop")
    ]
    assert "which the deployed stack 06-apps/shop still reads" in dropped[0].describe()
    # The reader updated (or removed) in the same run: nothing is pulled from under it.
    assert dropped_outputs([services_now], deployed, {"05-app-services", "06-apps/shop"}) == []
    # An output nobody reads may go.
    fewer = spec("05-app-services", "acme-app-services", exports=["db_host"])
    assert dropped_outputs([fewer], deployed, {"05-app-services"}) == []
