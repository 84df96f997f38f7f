"""A local Kubernetes control plane for tests and the demo, built from pinned upstream binaries.

kube-apiserver, etcd, kube-controller-manager and kube-scheduler run as plain processes; kwok plays the
kubelet for fake nodes and drives pod status through Stages, including the failure-injection stages
selected by the ``ploy.dev/fault`` pod label (see :mod:`.stages`).
"""

from ploy_localcluster.launcher import ClusterError, LocalCluster, cache_dir, default_bin_dir

__all__ = ["ClusterError", "LocalCluster", "cache_dir", "default_bin_dir"]
