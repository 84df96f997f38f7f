"""Fence chaos at volume: thousands of random fault sequences (tests/support/fence_chaos.py) against a
real PostgreSQL and the local control plane, with real bot processes; prints the sequence count, the
actions played, orders the venue executed, tokens handed out and every violation (must be none).

Lanes run side by side (each its own TradingBots and processes); a PostgreSQL restart in one lane is a
fault for all of them, which the invariants must survive too.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import random
import tempfile
import time
import uuid
from pathlib import Path

from benchsupport import install_crd, kubectl
from kubernetes.aio import config as aio_config

from ploy_localcluster import LocalCluster, default_bin_dir
from tests.support.fence_chaos import FenceChaos, Outcome, migrated_database
from tests.support.postgres import start_postgres

CRD_FILE = Path(__file__).resolve().parents[1] / "manifests" / "crds" / "tradingbots.ploy.dev.yaml"


async def bench(
    cluster: LocalCluster, sequences: int, lanes: int, steps: int, seed: int
) -> dict[str, object]:
    server = start_postgres()
    api = await aio_config.new_client_from_config(config_file=str(cluster.kubeconfig))
    outcomes: list[Outcome] = []
    errors: list[str] = []
    started = time.monotonic()
    try:
        dsn = await migrated_database(server.dsn, f"chaos_{uuid.uuid4().hex[:12]}")
        # Seeds are handed out until ``sequences`` sequences completed: a sequence the harness itself
        # could not finish (a timeout on a loaded machine) is counted apart and replaced.
        counter = itertools.count()
        pg_lock = asyncio.Lock()

        async def lane() -> None:
            async with FenceChaos(server, dsn, cluster.kubeconfig, api, "chaos", pg_lock=pg_lock) as chaos:
                while len(outcomes) < sequences:
                    n = next(counter)
                    try:
                        outcomes.append(await chaos.run(seed + n, steps=steps))
                    except Exception as exc:  # the harness failed (not the fence): count it, go on
                        errors.append(f"seed {seed + n}: {exc!r}")
                        continue
                    if len(outcomes) % 50 == 0:
                        print(f"[fence_chaos] {len(outcomes)}/{sequences} sequences, "
                              f"{sum(len(o.violations) for o in outcomes)} violations, "
                              f"{time.monotonic() - started:.0f}s", flush=True)  # fmt: skip

        await asyncio.gather(*(lane() for _ in range(lanes)))
    finally:
        await api.close()
        server.destroy()
    actions = collections.Counter(a for o in outcomes for a in o.actions)
    violations = [
        {"seed": o.seed, "actions": o.actions, "violations": o.violations} for o in outcomes if o.violations
    ]
    return {
        "benchmark": "fence_chaos",
        "sequences": len(outcomes),
        "steps_per_sequence": steps,
        "lanes": lanes,
        "first_seed": seed,
        "wall_seconds": round(time.monotonic() - started, 1),
        "actions": dict(sorted(actions.items())),
        "orders_executed_by_the_venue": sum(o.executed_orders for o in outcomes),
        "tokens_handed_out": sum(o.tokens for o in outcomes),
        "violation_count": sum(len(o.violations) for o in outcomes),
        "violations": violations[:20],
        "harness_errors": len(errors),
        "harness_error_samples": errors[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--lanes", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--seed", type=int, default=random.randrange(1_000_000))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ploy-chaos-") as tmp:
        cluster = LocalCluster(workdir=Path(tmp), bin_dir=default_bin_dir(), timeout=300)
        cluster.start()
        try:
            install_crd(cluster, CRD_FILE, "tradingbots.ploy.dev")
            kubectl(cluster, "create", "namespace", "chaos")
            result = asyncio.run(bench(cluster, args.sequences, args.lanes, args.steps, args.seed))
        finally:
            cluster.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
