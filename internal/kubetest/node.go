package kubetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeName is the kubelet's node name, and is its address. The kubelet
// refuses 127.0.0.1 as --node-ip ("nodeIP can't be loopback address"), but
// takes a hostname override that is an IP address as the node's
// InternalIP unchecked; so the API server reaches the kubelet on loopback,
// and the kubelet listens nowhere else (pods cannot reach its API).
const nodeName = "127.0.0.1"

// node is a test node: a containerd of its own (config, root, state and
// socket under dir; docker's containerd is not touched), a CNI bridge of
// its own, and a kubelet whose pods live in a cgroup of their own.
type node struct {
	dir        string
	id         string // short and unique: names the bridge, network and cgroup
	socket     string // containerd's
	bridge     string
	network    string // CNI network name
	cgroupRoot string
	subnet     *net.IPNet

	containerd, kubelet *process
}

func (c *Cluster) startNode(opts Options) error {
	id := randomHex(3)
	n := &node{
		dir:        filepath.Join(c.Dir, "node"),
		id:         id,
		bridge:     "kt-" + id,
		network:    "kubetest-" + id,
		cgroupRoot: "/kubetest-" + id,
	}
	n.socket = filepath.Join(n.dir, "containerd.sock")
	c.node = n
	if err := os.MkdirAll(filepath.Join(n.dir, "images"), 0o755); err != nil {
		return err
	}
	if err := n.createBridge(opts.PodSubnet); err != nil {
		return err
	}
	c.PodSubnet = n.subnet.String()
	if err := n.createCgroupRoot(); err != nil {
		return err
	}
	if err := n.startContainerd(); err != nil {
		return err
	}
	if err := c.importImages(opts.Images); err != nil {
		return err
	}
	if err := n.startKubelet(c.bin, c.Kubeconfig); err != nil {
		return err
	}
	c.NodeName = nodeName
	return c.waitNodeReady()
}

// importImages builds the pause and probe images and imports them, with
// the docker images the caller asked for, into the node's containerd.
func (c *Cluster) importImages(dockerImages []string) error {
	for program, ref := range map[string]string{"pause": PauseImage, "probe": ProbeImage} {
		archive, err := buildImage(c.root, c.node.dir, program, ref)
		if err != nil {
			return err
		}
		if err := c.node.importArchive(archive); err != nil {
			return fmt.Errorf("import %s: %w", ref, err)
		}
	}
	c.PauseImage, c.ProbeImage = PauseImage, ProbeImage
	for _, ref := range dockerImages {
		if err := c.node.importDockerImage(ref); err != nil {
			return fmt.Errorf("import docker image %s: %w", ref, err)
		}
	}
	return nil
}

// waitNodeReady waits until the node is Ready and the controller-manager
// has lifted its not-ready taint, so pods schedule on it.
func (c *Cluster) waitNodeReady() error {
	ctx := context.Background()
	err := waitFor(c.node.kubelet, 2*time.Minute, func() bool {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		return err == nil && nodeReady(node)
	})
	if err != nil {
		return fmt.Errorf("wait for node %s to be ready: %w", nodeName, err)
	}
	return nil
}

func nodeReady(node *corev1.Node) bool {
	for _, taint := range node.Spec.Taints {
		if taint.Effect == corev1.TaintEffectNoSchedule || taint.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// createBridge picks the pod subnet and creates the bridge with the
// gateway address on it, under a machine-wide lock, so clusters started at
// the same time by other test binaries pick different subnets.
func (n *node) createBridge(subnet string) error {
	unlock, err := lockFile("/run/lock/studio-kubetest.lock")
	if err != nil {
		return err
	}
	defer unlock()
	if subnet == "" {
		subnet, err = freeSubnet()
		if err != nil {
			return err
		}
	}
	_, ipnet, err := net.ParseCIDR(subnet)
	if err != nil {
		return fmt.Errorf("pod subnet: %w", err)
	}
	n.subnet = ipnet
	gateway := gatewayOf(ipnet)
	ones, _ := ipnet.Mask.Size()
	if err := run("ip", "link", "add", n.bridge, "type", "bridge"); err != nil {
		return err
	}
	if err := run("ip", "addr", "add", gateway.String()+"/"+strconv.Itoa(ones), "dev", n.bridge); err != nil {
		return err
	}
	return run("ip", "link", "set", n.bridge, "up")
}

// freeSubnet returns the first 10.88.N.0/24 that no interface of this
// machine has an address in.
func freeSubnet() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	taken := map[byte]bool{}
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok {
			if ip := ipnet.IP.To4(); ip != nil && ip[0] == 10 && ip[1] == 88 {
				taken[ip[2]] = true
			}
		}
	}
	for third := 1; third < 255; third++ {
		if !taken[byte(third)] {
			return fmt.Sprintf("10.88.%d.0/24", third), nil
		}
	}
	return "", fmt.Errorf("no free subnet in 10.88.0.0/16")
}

func gatewayOf(ipnet *net.IPNet) net.IP {
	ip := ipnet.IP.To4()
	return net.IPv4(ip[0], ip[1], ip[2], ip[3]+1)
}

// lockFile takes an exclusive flock on path and returns its release.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// cgroupHierarchies lists the cgroup mounts the kubelet and runc use.
func cgroupHierarchies() ([]string, error) {
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	return dirs, nil
}

// createCgroupRoot makes the cgroup the kubelet puts every pod under; the
// kubelet refuses a cgroup root that does not exist. A cgroup of its own
// keeps this node's pods apart from another test node's.
func (n *node) createCgroupRoot() error {
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	for _, h := range hierarchies {
		dir := filepath.Join(h, n.cgroupRoot)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup: %w", err)
		}
		if filepath.Base(h) == "cpuset" {
			// A new cpuset has no CPUs or memory nodes until given its
			// parent's.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(h, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (n *node) startContainerd() error {
	cni := filepath.Join(n.dir, "cni")
	if err := n.writeCNIConfig(cni); err != nil {
		return err
	}
	config := filepath.Join(n.dir, "containerd.toml")
	if err := os.WriteFile(config, []byte(n.containerdConfig(cni)), 0o644); err != nil {
		return err
	}
	p, err := startProcess(n.dir, "containerd", "/usr/bin/containerd", "--config", config)
	if err != nil {
		return err
	}
	n.containerd = p
	return waitFor(p, time.Minute, func() bool {
		return run("ctr", "--address", n.socket, "version") == nil
	})
}

// containerdConfig keeps everything of this containerd under n.dir, uses
// the pause image built here, and gives pods the bridge network.
func (n *node) containerdConfig(cni string) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  # This machine withholds CAP_SYS_RESOURCE, so a pod's oom_score_adj may
  # not go below containerd's own.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[7]q

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = %[8]q
`, filepath.Join(n.dir, "containerd"), filepath.Join(n.dir, "state"), n.socket, n.socket+".ttrpc",
		filepath.Join(n.dir, "opt"), PauseImage, filepath.Join(cni, "net.d"), filepath.Join(n.dir, "runc"))
}

// writeCNIConfig gives pods an address on n.bridge from n.subnet; the
// address book (host-local's data) lives under cni too. No masquerading:
// pods talk to the host and each other only.
func (n *node) writeCNIConfig(cni string) error {
	confDir := filepath.Join(cni, "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return err
	}
	conf := fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": %q,
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "dataDir": %q
    }
  }]
}
`, n.network, n.bridge, n.subnet.String(), gatewayOf(n.subnet).String(), filepath.Join(cni, "ipam"))
	return os.WriteFile(filepath.Join(confDir, "10-kubetest.conflist"), []byte(conf), 0o644)
}

func (n *node) startKubelet(bin, kubeconfig string) error {
	kubeletDir := filepath.Join(n.dir, "kubelet")
	if err := os.MkdirAll(kubeletDir, 0o755); err != nil {
		return err
	}
	resolv := filepath.Join(n.dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("# pods of a kubetest node resolve nothing\n"), 0o644); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	config := filepath.Join(n.dir, "kubelet.yaml")
	if err := os.WriteFile(config, []byte(n.kubeletConfig(port, resolv)), 0o644); err != nil {
		return err
	}
	p, err := startProcess(n.dir, "kubelet", filepath.Join(bin, "kubelet"),
		"--config="+config,
		"--kubeconfig="+kubeconfig,
		"--root-dir="+kubeletDir,
		"--cert-dir="+filepath.Join(kubeletDir, "pki"), // default: /var/lib/kubelet/pki
		"--hostname-override="+nodeName)
	if err != nil {
		return err
	}
	n.kubelet = p
	return nil
}

// kubeletConfig: cgroupfs on this machine's cgroup v1, served on loopback
// with anonymous access (the API server reaches it for logs and exec),
// evictions and image collection only when a disk is truly full, since the
// machine's disk is shared.
func (n *node) kubeletConfig(port int, resolv string) string {
	lines := []string{
		"apiVersion: kubelet.config.k8s.io/v1beta1",
		"kind: KubeletConfiguration",
		"address: 127.0.0.1",
		"port: " + strconv.Itoa(port),
		"readOnlyPort: 0",
		"healthzPort: 0",
		"cgroupDriver: cgroupfs",
		"cgroupRoot: " + n.cgroupRoot,
		"failCgroupV1: false",
		"failSwapOn: false",
		"podPidsLimit: 512",
		"containerRuntimeEndpoint: unix://" + n.socket,
		"resolvConf: " + resolv,
		"podLogsDir: " + filepath.Join(n.dir, "pod-logs"),
		"volumePluginDir: " + filepath.Join(n.dir, "volume-plugins"),
		"authentication:",
		"  anonymous: {enabled: true}",
		"  webhook: {enabled: false}",
		"authorization: {mode: AlwaysAllow}",
		"evictionHard: {memory.available: 1Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}",
		"imageGCHighThresholdPercent: 100",
		"imageGCLowThresholdPercent: 99",
		"serializeImagePulls: false",
		"protectKernelDefaults: false",
		// The hint and KUBE-FIREWALL chains are for kube-proxy, which a
		// test node does not run; they would outlive the node.
		"makeIPTablesUtilChains: false",
	}
	return strings.Join(lines, "\n") + "\n"
}
