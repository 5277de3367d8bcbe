package kubetest

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"studio/internal/repo"
	"studio/internal/testwait"
)

// TestNodeRunsAHardenedPod runs a pod hardened the way studio runs a
// project (non-root uid 1000, read-only root, RuntimeDefault seccomp, no
// privilege escalation or capabilities, no service-account token, a
// size-limited emptyDir, project files through a PVC with subPath) on a
// real node, and reaches it over HTTP, pods/log and pods/exec.
//
// With a docker daemon at hand, the pod's image comes from it through
// Options.Images, as studio's runtime image does.
func TestNodeRunsAHardenedPod(t *testing.T) {
	opts, image := Options{Node: true}, ProbeImage
	if ref, ok := dockerProbeImage(t); ok {
		opts.Images, image = []string{ref}, ref
	}
	c, err := Start(opts)
	if err != nil {
		t.Fatalf("start cluster with a node: %v", err)
	}
	t.Cleanup(c.Stop)
	ctx := context.Background()
	ns := newRestrictedNamespace(t, c)
	files := projectVolume(t, c, ns)
	pod := runPod(t, c, ns, hardenedPod(image))

	ip := net.ParseIP(pod.Status.PodIP)
	_, subnet, _ := net.ParseCIDR(c.PodSubnet)
	if ip == nil || !subnet.Contains(ip) {
		t.Fatalf("pod IP %q is not on the bridge's subnet %s", pod.Status.PodIP, c.PodSubnet)
	}

	t.Run("answers HTTP on its pod IP", func(t *testing.T) {
		body := httpGet(t, "http://"+net.JoinHostPort(pod.Status.PodIP, "8080")+"/")
		if want := "probe " + pod.Name + " uid=1000"; !strings.HasPrefix(body, want) {
			t.Fatalf("GET / = %q, want %q…", body, want)
		}
	})
	t.Run("pods/log", func(t *testing.T) {
		logs, err := c.Client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil || !strings.Contains(string(logs), "probe listening on :8080") {
			t.Fatalf("logs = %q, %v", logs, err)
		}
	})
	t.Run("pods/exec runs as uid 1000 under seccomp with no new privileges", func(t *testing.T) {
		if out := mustExec(t, c, ns, pod.Name, "/probe", "id"); out != "uid=1000 gid=1000\n" {
			t.Fatalf("probe id = %q", out)
		}
		status := mustExec(t, c, ns, pod.Name, "/probe", "cat", "/proc/self/status")
		for _, want := range []string{"Seccomp:\t2", "NoNewPrivs:\t1", "CapEff:\t0000000000000000"} {
			if !strings.Contains(status, want) {
				t.Errorf("/proc/self/status lacks %q:\n%s", want, status)
			}
		}
	})
	t.Run("at most 512 processes", func(t *testing.T) {
		// The kubelet sets podPidsLimit on the pod's cgroup, under the
		// node's own cgroup root, in the QoS class's folder.
		pattern := filepath.Join("/sys/fs/cgroup/pids", c.node.cgroupRoot, "kubepods", "*", "pod"+string(pod.UID), "pids.max")
		files, _ := filepath.Glob(pattern)
		if len(files) != 1 {
			t.Fatalf("no single pod cgroup matches %s: %v", pattern, files)
		}
		if data, err := os.ReadFile(files[0]); err != nil || strings.TrimSpace(string(data)) != "512" {
			t.Fatalf("%s = %q, %v; want 512", files[0], data, err)
		}
	})
	t.Run("root file system is read-only, /tmp is writable", func(t *testing.T) {
		if out, err := execIn(c, ns, pod.Name, "/probe", "write", "/probe-was-here", "x"); err == nil {
			t.Fatalf("writing to / succeeded: %q", out)
		} else if !strings.Contains(out, "read-only file system") {
			t.Fatalf("writing to / failed with %q, want a read-only file system", out)
		}
		mustExec(t, c, ns, pod.Name, "/probe", "write", "/tmp/scratch", "x")
	})
	t.Run("no service-account token", func(t *testing.T) {
		out, err := execIn(c, ns, pod.Name, "/probe", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/token")
		if err == nil || !strings.Contains(out, "no such file or directory") {
			t.Fatalf("reading a service-account token: %q, %v; want no such file", out, err)
		}
	})
	t.Run("project files through the PVC's subPath", func(t *testing.T) {
		mustExec(t, c, ns, pod.Name, "/probe", "write", "/app/hello.txt", "hello from the pod")
		data, err := os.ReadFile(filepath.Join(files, "hello.txt"))
		if err != nil || string(data) != "hello from the pod" {
			t.Fatalf("host side of the volume: %q, %v", data, err)
		}
	})
	t.Run("deleting the pod finishes", func(t *testing.T) {
		if err := c.Client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		testwait.Eventually(t, time.Minute, func() bool {
			_, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			return err != nil
		}, "the pod is gone")
	})
}

// newRestrictedNamespace makes a namespace that enforces the restricted
// Pod Security Standard, as studio's project namespaces do.
func newRestrictedNamespace(t *testing.T, c *Cluster) string {
	t.Helper()
	ns, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "kubetest-", Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted",
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// projectVolume makes a hostPath PersistentVolume under the cluster's
// folder, a claim bound to it named "projects", and the project's folder
// in it (owned by uid 1000, as studio creates it); it returns that folder.
func projectVolume(t *testing.T, c *Cluster, ns string) string {
	t.Helper()
	ctx := context.Background()
	root := filepath.Join(c.Dir, "volumes", ns)
	files := filepath.Join(root, "p1")
	if err := os.MkdirAll(files, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(files, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	size := resource.MustParse("1Gi")
	rwx := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	_, err := c.Client.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-projects"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:            rwx,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: root}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create volume: %v", err)
	}
	noClass := ""
	_, err = c.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "projects"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      rwx,
			StorageClassName: &noClass,
			VolumeName:       ns + "-projects",
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create claim: %v", err)
	}
	return files
}

func hardenedPod(image string) *corev1.Pod {
	yes, no := true, false
	uid := int64(1000)
	tmpSize := resource.MustParse("64Mi")
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hardened"},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: &no,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            "probe",
				Image:           image,
				ImagePullPolicy: corev1.PullNever,
				Args:            []string{"serve", ":8080"},
				Ports:           []corev1.ContainerPort{{ContainerPort: 8080}},
				SecurityContext: &corev1.SecurityContext{
					ReadOnlyRootFilesystem:   &yes,
					AllowPrivilegeEscalation: &no,
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "projects", MountPath: "/app", SubPath: "p1"},
					{Name: "tmp", MountPath: "/tmp"},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "projects", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "projects"}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{
					EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &tmpSize}}},
			},
		},
	}
}

// runPod creates pod and waits until it runs with an IP.
func runPod(t *testing.T, c *Cluster, ns string, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	var got *corev1.Pod
	testwait.Eventually(t, 2*time.Minute, func() bool {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		got = p
		return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != ""
	}, "the pod runs")
	return got
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	var body string
	testwait.Eventually(t, 30*time.Second, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		body = string(data)
		return err == nil && resp.StatusCode == http.StatusOK
	}, "the pod answers "+url)
	return body
}

func mustExec(t *testing.T, c *Cluster, ns, pod string, argv ...string) string {
	t.Helper()
	out, err := execIn(c, ns, pod, argv...)
	if err != nil {
		t.Fatalf("exec %v: %v: %s", argv, err, out)
	}
	return out
}

// execIn runs argv in the pod's first container through the API server's
// exec subresource, and returns its stdout followed by its stderr.
func execIn(c *Cluster, ns, pod string, argv ...string) (string, error) {
	req := c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Command: argv, Stdout: true, Stderr: true,
	}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(c.Config, "GET", req.URL().String())
	if err != nil {
		return "", err
	}
	spdy, err := remotecommand.NewSPDYExecutor(c.Config, "POST", req.URL())
	if err != nil {
		return "", err
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, httpstream.IsUpgradeFailure)
	if err != nil {
		return "", err
	}
	// Separate buffers: with one writer for both streams, stderr arrived
	// empty.
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	return stdout.String() + stderr.String(), err
}

// dockerProbeImage puts the probe program into the local docker daemon as
// an image (removed again when the test ends), if there is a daemon.
func dockerProbeImage(t *testing.T) (string, bool) {
	t.Helper()
	if exec.Command("docker", "info").Run() != nil {
		t.Log("no docker daemon: the pod runs the image built here, Options.Images is not tried")
		return "", false
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	binary := filepath.Join(dir, "probe")
	build := exec.Command("go", "build", "-o", binary, "./internal/kubetest/probe")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v: %s", err, out)
	}
	layer := filepath.Join(dir, "layer.tar")
	data, err := layerTar(binary, "probe")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(layer, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ref := "kubetest-docker-probe:" + randomHex(4)
	if out, err := exec.Command("docker", "import", "--change", `ENTRYPOINT ["/probe"]`, layer, ref).CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", ref).Run() })
	return ref, true
}
