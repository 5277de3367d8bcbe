package kubetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// stop takes the node away and everything it made outside n.dir: the
// kubelet first (so it starts nothing more), then every pod sandbox through
// containerd's CRI (which stops the containers, and deletes their network
// and mounts), then containerd and any shim it left, and finally whatever
// is still mounted under n.dir, the bridge, the cgroup and the log links.
// Errors are reported, not returned: a half-stopped node should still
// lose as much as possible.
func (n *node) stop() {
	n.kubelet.stop(10 * time.Second)
	if n.containerd != nil && !n.containerd.exited() {
		if err := n.removeSandboxes(); err != nil {
			warn("remove pod sandboxes: %v", err)
		}
	}
	n.containerd.stop(10 * time.Second)
	n.killShims()
	if err := unmountUnder(n.dir); err != nil {
		warn("unmount: %v", err)
	}
	if n.subnet != nil {
		if err := run("ip", "link", "del", n.bridge); err != nil {
			warn("%v", err)
		}
	}
	n.removeCgroupRoot()
	removeLinksInto("/var/log/containers", n.dir)
	n.removeCNICache()
	removeKubeletHostFiles()
}

// removeKubeletHostFiles removes what the kubelet makes outside its root
// folder whatever it is told: the device-plugin socket has a fixed path.
// The folders go only if empty, so another node's files stay.
func removeKubeletHostFiles() {
	_ = os.Remove("/var/lib/kubelet/device-plugins/kubelet.sock")
	for _, dir := range []string{"/var/lib/kubelet/device-plugins", "/var/lib/kubelet", "/var/log/containers"} {
		_ = os.Remove(dir)
	}
}

func warn(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kubetest: "+format+"\n", args...)
}

// removeSandboxes stops and removes every pod sandbox containerd knows.
func (n *node) removeSandboxes() error {
	conn, err := grpc.NewClient("unix://"+n.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	runtime := cri.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := runtime.ListPodSandbox(ctx, &cri.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	for _, sb := range list.Items {
		if _, err := runtime.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			warn("stop sandbox %s: %v", sb.Id, err)
		}
		if _, err := runtime.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			warn("remove sandbox %s: %v", sb.Id, err)
		}
	}
	return nil
}

// killShims kills containerd-shim processes that were started for this
// node's containerd (their command line names its socket), in case a
// container outlived the sandbox removal.
func (n *node) killShims() {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range procs {
		cmdline, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") || !containsArg(args, n.socket) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(path))); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func containsArg(args []string, want string) bool {
	for _, a := range args {
		if a == want {
			return true
		}
	}
	return false
}

// unmountUnder detaches every mount point below dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL {
			warn("unmount %s: %v", p, err)
		}
	}
	return scanner.Err()
}

// removeCgroupRoot removes the pods' cgroup tree, innermost first; a
// cgroup directory goes with rmdir once it has no tasks and no children.
func (n *node) removeCgroupRoot() {
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		warn("%v", err)
		return
	}
	for _, h := range hierarchies {
		root := filepath.Join(h, n.cgroupRoot)
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !os.IsNotExist(err) {
				warn("remove cgroup %s: %v", dirs[i], err)
			}
		}
	}
}

// removeLinksInto removes the symbolic links in dir that point below
// target: the kubelet links every container log into /var/log/containers.
func removeLinksInto(dir, target string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		link := filepath.Join(dir, e.Name())
		if dest, err := os.Readlink(link); err == nil && strings.HasPrefix(dest, target+"/") {
			_ = os.Remove(link)
		}
	}
}

// removeCNICache removes the results containerd's CNI library caches in
// /var/lib/cni for this node's network (named for the network).
func (n *node) removeCNICache() {
	files, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", n.network+"-*"))
	for _, f := range files {
		_ = os.Remove(f)
	}
	// The folders too, if this node was the one that made them (empty).
	_ = os.Remove("/var/lib/cni/results")
	_ = os.Remove("/var/lib/cni")
}
