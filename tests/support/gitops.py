"""Test-side GitOps helpers: a bare git repository made from the checkout (with the repository-URL
rewrite committed there) and reads/waits on ArgoCD Applications through kubectl.

The repository is local (``file://``): ArgoCD's repo-server clones it with git and resolves
revisions with go-git, no server involved; nothing leaves the machine.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSON = dict[str, Any]
ROOT_APP = Path("argocd/root-app.yaml")
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "ploy-test",
    "GIT_AUTHOR_EMAIL": "ploy-test@localhost",
    "GIT_COMMITTER_NAME": "ploy-test",
    "GIT_COMMITTER_EMAIL": "ploy-test@localhost",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}


def git(cwd: Path, *args: str, timeout: float = 60) -> str:
    """Run git in ``cwd`` with a fixed identity and no user/system config; returns stdout.

    Raises CalledProcessError when git fails, TimeoutExpired after ``timeout`` seconds."""
    return subprocess.run(
        ["git", *args], cwd=cwd, env=_GIT_ENV, capture_output=True, text=True, check=True, timeout=timeout
    ).stdout


@dataclass
class GitRepo:
    """A bare repository ``bare`` (branch ``main``) and a working clone ``work`` that pushes to it."""

    bare: Path
    work: Path

    @property
    def url(self) -> str:
        """The URL ArgoCD syncs from (``file://``)."""
        return f"file://{self.bare}"

    def head(self) -> str:
        """Commit id of ``main``."""
        return git(self.work, "rev-parse", "HEAD").strip()

    def commit(self, message: str, edit: Callable[[Path], None]) -> str:
        """Apply ``edit(work)``, commit everything, push to ``main``; returns the new commit id."""
        edit(self.work)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", "HEAD:main")
        return self.head()

    def revert(self, commit: str) -> str:
        """``git revert`` ``commit`` and push; returns the new commit id."""
        git(self.work, "revert", "--no-edit", commit)
        git(self.work, "push", "-q", "origin", "HEAD:main")
        return self.head()


def repo_from_checkout(checkout: Path, scratch: Path) -> GitRepo:
    """A bare repository whose ``main`` holds the checkout's files (tracked and untracked, not ignored,
    as they are on disk) plus a second commit pointing ``argocd/root-app.yaml`` at the bare repo."""
    files = git(checkout, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    work = scratch / "work"
    for name in filter(None, files):
        source = checkout / name
        if source.is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    bare = scratch / "ploy.git"
    git(scratch, "init", "-q", "--bare", "-b", "main", str(bare))
    git(work, "init", "-q", "-b", "main")
    git(work, "remote", "add", "origin", str(bare))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "the checkout")
    repo = GitRepo(bare=bare, work=work)

    def point_at_bare(root: Path) -> None:
        text = (root / ROOT_APP).read_text()
        new = re.sub(r"(?m)^(    repoURL: ).*$", rf"\g<1>{repo.url}", text, count=1)
        assert new != text, "argocd/root-app.yaml has no spec.source.repoURL line"
        (root / ROOT_APP).write_text(new)

    repo.commit("argocd: sync from the local test repository", point_at_bare)
    return repo


def set_yaml_line(path: Path, pattern: str, replacement: str) -> None:
    """Replace the one line of ``path`` matching regex ``pattern`` (raises AssertionError if not one)."""
    text = path.read_text()
    new, count = re.subn(pattern, replacement, text, flags=re.M)
    assert count == 1, (path, pattern, count)
    path.write_text(new)


@dataclass
class Apps:
    """ArgoCD Applications in namespace ``argocd``, read with ``kubectl`` (path) and ``kubeconfig``."""

    kubectl_path: Path
    kubeconfig: Path

    def kubectl(self, *args: str, timeout: float = 60) -> str:
        """kubectl's stdout; raises CalledProcessError on failure, TimeoutExpired after ``timeout`` s."""
        return subprocess.run(
            [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=timeout,
        ).stdout

    def get(self, name: str) -> JSON:
        """The Application ``name`` (empty dict when it does not exist yet)."""
        out = self.kubectl(
            "-n", "argocd", "get", "applications.argoproj.io", name, "-o", "json", "--ignore-not-found"
        )
        return json.loads(out) if out.strip() else {}

    def resource_health(self, app: str, kind: str, name: str) -> JSON:
        """``{status, message}`` of resource ``kind/name`` in the app's resource tree ({} if absent)."""
        for resource in self.get(app).get("status", {}).get("resources", []):
            if resource.get("kind") == kind and resource.get("name") == name:
                health: JSON = resource.get("health", {})
                return health
        return {}

    def refresh(self, app: str, mode: str = "normal") -> None:
        """Ask the controller to re-read git now (annotation ``argocd.argoproj.io/refresh``)."""
        self.kubectl(
            "-n",
            "argocd",
            "annotate",
            "applications.argoproj.io",
            app,
            f"argocd.argoproj.io/refresh={mode}",
            "--overwrite",
        )


def synced_at(app: JSON, revision: str | None = None) -> bool:
    """Whether ``app`` is Synced (at ``revision`` when given) and its last operation, if any, is done."""
    status = app.get("status", {})
    sync = status.get("sync", {})
    if sync.get("status") != "Synced" or (revision is not None and sync.get("revision") != revision):
        return False
    phase = status.get("operationState", {}).get("phase")
    return phase in (None, "Succeeded")


def wait_until(check: Callable[[], Any], what: str, within: float, interval: float = 1.0) -> Any:
    """Poll ``check`` every ``interval`` s until it returns something truthy (returned); raises
    AssertionError naming ``what`` (and the last value) after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        try:
            last = check()
        except subprocess.CalledProcessError as exc:
            last = exc.stderr
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(interval)
