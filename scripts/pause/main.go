// Command pause is the sandbox ("pause") process of the real node's pods: it holds the pod's
// namespaces, reaps children re-parented to it, and exits 0 on SIGINT or SIGTERM. The local node has
// no registry to pull registry.k8s.io/pause from, so scripts/build-control-plane.sh builds this one
// (CGO_ENABLED=0, static) and scripts/build-images.sh puts it into a FROM-scratch image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
