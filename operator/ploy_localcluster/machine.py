"""What a real node changes on the machine, recorded before it starts and undone after it stops:
network namespaces, iptables/ip6tables chains (KUBE-*, CNI-*), the pod bridge, pod cgroups, mounts
under the node's directory, and the kernel sysctls kubelet, kube-proxy and the CNI bridge set.

:func:`claim_owner` and :func:`record` write the machine-wide :data:`OWNER_FILE` (owner pid, node
directory, what the machine looked like); :func:`teardown` works from it alone, so it cleans up after
a clean stop, a failed start, or a crashed owner whose directory is gone (the next start reclaims
it). Linux only; needs root.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

OWNER_FILE = Path("/run/ploy-real-node.json")
# Kernel settings kubelet (protectKernelDefaults=false), kube-proxy and the CNI bridge may change.
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
)
_CHAIN_PREFIXES = ("KUBE-", "CNI-")
_TABLES = ("filter", "nat", "mangle")
_NETNS_DIR = Path("/run/netns")
# containerd 1.6 puts its shims' sockets here whatever its state dir; a killed shim leaves its own.
_SHIM_SOCKETS = Path("/run/containerd/s")
_CGROUP_ROOT = Path("/sys/fs/cgroup")
# kubelet's cgroupRoot: the node's pods live below it (never in another kubelet's "kubepods"), so
# teardown kills and removes exactly what this node started.
CGROUP_PARENT = "ploy-node"
_CGROUP_NAMES = (CGROUP_PARENT,)
_RUN_CMD_TIMEOUT = 30.0


class OwnedElsewhere(RuntimeError):
    """Raised by :func:`claim_owner` when a live process already owns a real node on this machine."""


def run(
    *argv: str, check: bool = False, timeout: float = _RUN_CMD_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a host command (output captured); never raises for a missing binary or a timeout unless
    ``check`` (then CalledProcessError, FileNotFoundError or TimeoutExpired)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        if check:
            raise
        return subprocess.CompletedProcess(argv, 127, "", "")


def _read_sysctls() -> dict[str, str]:
    values: dict[str, str] = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = (Path("/proc/sys") / name).read_text().strip()
    return values


def _chains() -> list[list[str]]:
    """Every ``[command, table, chain]`` whose name starts with KUBE- or CNI-, in iptables and ip6tables."""
    found: list[list[str]] = []
    for cmd in ("iptables", "ip6tables"):
        for table in _TABLES:
            out = run(f"{cmd}-save", "-t", table).stdout
            for line in out.splitlines():
                if line.startswith(":") and line[1:].startswith(_CHAIN_PREFIXES):
                    found.append([cmd, table, line[1:].split()[0]])
    return found


def _listdir(path: Path) -> list[str] | None:
    return sorted(os.listdir(path)) if path.is_dir() else None


def _tables() -> list[list[str]]:
    """``[command, table]`` of every filter/nat/mangle table that exists. ``iptables-save -t T`` prints
    a table's built-in chains even when it does not exist, so ask nft (iptables-nft) or read the
    tables ``iptables-save`` lists (iptables-legacy)."""
    family = {"ip": "iptables", "ip6": "ip6tables"}
    nft = run("nft", "list", "tables")
    if nft.returncode == 0:
        return [
            [family[f], t]
            for _, f, t in (line.split() for line in nft.stdout.splitlines() if line.count(" ") == 2)
            if f in family and t in _TABLES
        ]
    return [
        [cmd, line[1:]]
        for cmd in ("iptables", "ip6tables")
        for line in run(f"{cmd}-save").stdout.splitlines()
        if line.startswith("*") and line[1:] in _TABLES
    ]


def make_cgroup_parent() -> None:
    """Create :data:`CGROUP_PARENT` in every cgroup v1 hierarchy (kubelet refuses a missing
    cgroupRoot); cpuset gets its parent's CPUs and memory nodes, or no task could join it."""
    for hierarchy in _CGROUP_ROOT.iterdir():
        if not hierarchy.is_dir() or hierarchy.name == "unified":
            continue
        target = hierarchy / CGROUP_PARENT
        with contextlib.suppress(FileExistsError):
            target.mkdir()
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (hierarchy / name).exists() and not (target / name).read_text().strip():
                (target / name).write_text((hierarchy / name).read_text())


def snapshot() -> dict[str, object]:
    """What a node may change, as it is now: sysctls, iptables tables and KUBE-/CNI- chains, network
    namespaces and containerd shim sockets (JSON-serialisable)."""
    return {
        "sysctls": _read_sysctls(),
        "tables": _tables(),
        "chains": _chains(),
        "netns": _listdir(_NETNS_DIR),
        "shim_sockets": _listdir(_SHIM_SOCKETS),
    }


def record(workdir: Path, bridge: str) -> None:
    """Add to :data:`OWNER_FILE` (claimed for ``workdir``) a :func:`snapshot` and the ``bridge`` the
    node is about to create. Kept outside ``workdir``, so a crashed run whose directory was deleted
    can still be undone."""
    owner = _read_owner()
    if Path(str(owner.get("workdir", ""))) != workdir:
        raise OwnedElsewhere(f"{OWNER_FILE} does not name {workdir}")
    _write_owner({**owner, "record": {**snapshot(), "bridge": bridge}})


def _read_owner() -> dict[str, Any]:
    try:
        owner: dict[str, Any] = json.loads(OWNER_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return owner


def _write_owner(owner: dict[str, Any]) -> None:
    tmp = OWNER_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(owner, indent=1))
    tmp.replace(OWNER_FILE)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reclaim_stale() -> dict[str, object] | None:
    """Tear down a node whose owner (per :data:`OWNER_FILE`) is dead; returns the owner record of a
    node whose owner lives (then nothing is touched), else None."""
    if not OWNER_FILE.exists():
        return None
    owner = _read_owner()
    if owner.get("pid") and _pid_alive(int(owner["pid"])):
        return dict(owner)
    if owner.get("workdir"):
        teardown(Path(owner["workdir"]))
    OWNER_FILE.unlink(missing_ok=True)
    return None


def claim_owner(workdir: Path, pid: int) -> None:
    """Take :data:`OWNER_FILE` for ``pid`` and ``workdir`` (after :func:`reclaim_stale`; a no-op when
    they hold it already). Raises OwnedElsewhere when another live process owns a real node (only one
    can run on a machine: one bridge, one pod CIDR)."""
    owner = reclaim_stale()
    if owner is not None and owner.get("pid") == pid and owner.get("workdir") == str(workdir):
        return  # already ours (re-entrant)
    if owner is not None:
        raise OwnedElsewhere(f"a real node already runs (owner pid {owner['pid']}, {owner.get('workdir')})")
    try:  # atomically: of two processes claiming at once, one gets it
        fd = os.open(OWNER_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError as exc:
        raise OwnedElsewhere("another process claimed the real node just now") from exc
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps({"pid": pid, "workdir": str(workdir)}))


def set_owner(workdir: Path, pid: int) -> None:
    """Record ``pid`` (a process that lives as long as the node, e.g. kubelet) as the node's owner."""
    _write_owner({**_read_owner(), "pid": pid, "workdir": str(workdir)})


# -- teardown ------------------------------------------------------------------------------------


def teardown(workdir: Path) -> None:
    """Undo everything a real node rooted at ``workdir`` did, whatever state it is in: kill what runs
    in its pods' cgroups and its containerd shims, unmount what lies under ``workdir`` and the pods'
    network namespaces, delete the KUBE-/CNI- iptables chains that did not exist before, the bridge,
    the empty pod cgroups and containerd's root, and restore the recorded sysctls. Idempotent;
    processes of the control plane (kubelet, kube-proxy, containerd) must already be stopped."""
    owner = _read_owner()
    mine = Path(str(owner.get("workdir", ""))) == workdir
    if not mine or "record" not in owner:
        # Never prepared, or another node owns the machine: only this directory's shims and mounts.
        _kill_pod_processes(workdir, pods=False)
        _unmount_under(workdir)
        if mine:
            OWNER_FILE.unlink(missing_ok=True)
        return
    state: dict[str, Any] = owner["record"]
    _kill_pod_processes(workdir, pods=True)
    _unmount_under(workdir)
    _remove_new(_NETNS_DIR, state.get("netns"), unmount=True)
    _remove_new(_SHIM_SOCKETS, state.get("shim_sockets"), unmount=False)
    _delete_chains({tuple(c) for c in state.get("chains", [])})
    _delete_new_empty_tables({tuple(t) for t in state.get("tables", [])})
    if state.get("bridge"):
        run("ip", "link", "del", str(state["bridge"]))
    _remove_cgroups()
    for name, value in state.get("sysctls", {}).items():
        path = Path("/proc/sys") / name
        with contextlib.suppress(OSError):
            if path.read_text().strip() != value:
                path.write_text(value)
    shutil.rmtree(workdir / "containerd", ignore_errors=True)
    shutil.rmtree(workdir / "kubelet", ignore_errors=True)
    OWNER_FILE.unlink(missing_ok=True)


def _kill_pod_processes(workdir: Path, pods: bool) -> None:
    """SIGKILL every shim of the containerd under ``workdir`` and, with ``pods``, every process in
    the pods' cgroups (:data:`CGROUP_PARENT`)."""
    marker = str(workdir / "containerd").encode()
    for _ in range(3):
        pids: set[int] = set()
        for name in _CGROUP_NAMES if pods else ():
            for procs in _CGROUP_ROOT.glob(f"*/{name}/**/cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(p) for p in procs.read_text().split())
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError):
                    cmd = (proc / "cmdline").read_bytes()
                    if b"containerd-shim" in cmd and marker in cmd:
                        pids.add(int(proc.name))
        pids.discard(os.getpid())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)


def _unmount_under(workdir: Path) -> None:
    """Unmount every mount point below ``workdir`` (deepest first; lazily if busy)."""
    prefix = str(workdir.resolve())
    mounts: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                mounts.append(point)
    for point in sorted(set(mounts), key=len, reverse=True):
        if run("umount", point).returncode != 0:
            run("umount", "-l", point)


def _delete_chains(before: set[tuple[str, ...]]) -> None:
    """Delete KUBE-*/CNI-* chains that were not there before, with the rules that jump to them."""
    new = [c for c in _chains() if tuple(c) not in before]
    targets: dict[tuple[str, str], set[str]] = {(cmd, table): set() for cmd, table, _ in new}
    for cmd, table, chain in new:
        targets[(cmd, table)].add(chain)
    for (cmd, table), chains in targets.items():
        save = run(f"{cmd}-save", "-t", table).stdout
        for line in save.splitlines():
            if not line.startswith("-A "):
                continue
            args = shlex.split(line)
            owner = args[1]
            if owner in chains:
                continue  # flushed with its chain below
            if any(a in chains for a in args[2:]):
                run(cmd, "-t", table, "-D", owner, *args[2:])
        for chain in chains:
            run(cmd, "-t", table, "-F", chain)
        for chain in chains:
            run(cmd, "-t", table, "-X", chain)


def _remove_cgroups() -> None:
    for name in _CGROUP_NAMES:
        for top in _CGROUP_ROOT.glob(f"*/{name}"):
            dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
            for d in [*dirs, top]:
                with contextlib.suppress(OSError):
                    d.rmdir()


def _remove_new(directory: Path, before: list[str] | None, unmount: bool) -> None:
    """Remove the entries of ``directory`` not listed in ``before`` (unmounting each first when
    ``unmount``: network namespaces are bind mounts), and ``directory`` itself and its empty parent
    when they did not exist before (``before`` is None) and are empty now."""
    if not directory.is_dir():
        return
    for name in sorted(set(os.listdir(directory)) - set(before or [])):
        if unmount:
            run("umount", "-l", str(directory / name))
        with contextlib.suppress(OSError):
            (directory / name).unlink()
    if before is None:
        with contextlib.suppress(OSError):
            directory.rmdir()
            if directory.parent != Path("/run"):
                directory.parent.rmdir()


def _delete_new_empty_tables(before: set[tuple[str, ...]]) -> None:
    """kubelet and kube-proxy create the filter, nat and mangle tables; with iptables-nft an unused
    table stays behind as an nftables table. Delete those that did not exist before and hold no rule."""
    if "nf_tables" not in run("iptables", "-V").stdout:
        return
    for cmd, table in _tables():
        if (cmd, table) in before:
            continue
        if any(line.startswith("-A ") for line in run(f"{cmd}-save", "-t", table).stdout.splitlines()):
            continue
        run("nft", "delete", "table", "ip" if cmd == "iptables" else "ip6", table)
