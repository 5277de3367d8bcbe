// Package kubetest runs a real Kubernetes cluster on loopback for tests:
// Debian's etcd, and kube-apiserver, kube-controller-manager and
// kube-scheduler built from the Go module proxy by scripts/kube-binaries;
// with Options.Node also a node (its own containerd, a CNI bridge and a
// kubelet) that really runs pods. Everything a cluster makes lives under
// Cluster.Dir or is named after it, and Stop takes it all away again.
package kubetest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"studio/internal/repo"
)

// Options say what to start besides the control plane.
type Options struct {
	// Node also starts a real node: containerd + kubelet + CNI bridge, with
	// the images in Images imported into containerd's k8s.io namespace.
	Node bool
	// Images are docker image references (on the local dockerd) to import
	// into the node's containerd (`docker save` | ctr import). Node only.
	Images []string
	// PodSubnet is the bridge's /24 for pod addresses. Empty picks a free
	// 10.88.N.0/24, clear of Docker's 172.17/16 and studio's 10.201/16.
	PodSubnet string
}

// Cluster is a running test cluster.
type Cluster struct {
	Dir        string // everything of this cluster lives here (removed by Stop)
	Kubeconfig string // admin kubeconfig file (system:masters)
	Config     *rest.Config
	Client     kubernetes.Interface
	NodeName   string // "" without a node

	// Token is the admin bearer token in Kubeconfig.
	Token string
	// PauseImage and ProbeImage name the images built here and imported
	// into the node: the sandbox's pause, and a small static program
	// (see probe/) that serves HTTP and answers exec calls. Node only.
	PauseImage, ProbeImage string
	// PodSubnet is the bridge's subnet. Node only.
	PodSubnet string

	bin               string     // folder of the Kubernetes binaries
	root              string     // module root
	procs             []*process // in the order they started
	controllerManager *process
	node              *node
}

// PauseImage is the sandbox image name, built from ./pause.
const PauseImage = "kubetest.local/pause:1"

// ProbeImage is the test image name, built from ./probe.
const ProbeImage = "kubetest.local/probe:1"

// Start starts a cluster and waits until it serves: /readyz is ok, the
// default service account exists in "default", and with a node the node
// is Ready. On error, everything started so far is stopped again.
func Start(opts Options) (*Cluster, error) {
	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	bin, err := kubeBinaries(root)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin, root: root}
	if err := c.start(opts); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(opts Options) error {
	if err := c.startControlPlane(); err != nil {
		return err
	}
	if opts.Node {
		if err := c.startNode(opts); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.waitDefaultServiceAccount(ctx)
}

// Stop takes the cluster away: the node's pods (their containers, mounts
// and network), the node, the control plane, and Dir. It signals only the
// processes this cluster started.
func (c *Cluster) Stop() {
	if c.node != nil {
		c.node.stop()
	}
	// Last started, first stopped: the scheduler and controller-manager
	// before the API server, the API server before etcd.
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(10 * time.Second)
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		fmt.Fprintf(os.Stderr, "kubetest: remove %s: %v\n", c.Dir, err)
	}
}

// Main is for TestMain: it starts a cluster into *c, runs the tests, stops
// the cluster and exits with the tests' status. A cluster that does not
// start fails the whole package at once.
func Main(m *testing.M, opts Options, c **Cluster) {
	cluster, err := Start(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubetest: start cluster: %v\n", err)
		os.Exit(1)
	}
	*c = cluster
	code := m.Run()
	cluster.Stop()
	os.Exit(code)
}
