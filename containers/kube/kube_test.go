package kube

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"studio/containers"
	"studio/internal/kubetest"
	"studio/internal/testwait"
)

// These tests run against a real control plane (etcd, kube-apiserver,
// controller-manager, scheduler) without a node: objects, their hardening,
// scaling, reconcile and the states a kubelet would report, written the
// way a kubelet writes them. Pods that really run are tested in e2e.

var cluster *kubetest.Cluster

func TestMain(m *testing.M) { kubetest.Main(m, kubetest.Options{}, &cluster) }

const studioNS = "studio"

// env is a runtime of its own instance, with the projects claim studio
// expects, bound to a hostPath volume on root.
type env struct {
	k    *Kube
	root string
}

func newEnv(t *testing.T, mutate ...func(*Options)) *env {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	instance := "t" + strings.ReplaceAll(uuid.NewString(), "-", "")[:10]
	claim := "projects-" + instance
	if err := cluster.HostPathClaim(ctx, studioNS, claim, root); err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Config:        cluster.Config,
		Namespace:     studioNS,
		ProjectsClaim: claim,
		VolumeRoot:    root,
		Image:         "studio-runtime:test",
		Instance:      instance,
		Memory:        512 << 20,
		MilliCPUs:     500,
		StopTimeout:   time.Second,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mutate {
		m(&opts)
	}
	k, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{k: k, root: root}
	t.Cleanup(func() {
		ctx := context.Background()
		managed, _ := k.ListManaged(ctx)
		for _, st := range managed {
			_ = k.Remove(ctx, st.ProjectID)
		}
		k.Close()
		cluster.DeleteHostPathClaim(ctx, studioNS, claim)
	})
	return e
}

// project makes a project folder and returns its spec.
func (e *env) project(t *testing.T) containers.Spec {
	t.Helper()
	id := uuid.NewString()
	dir := filepath.Join(e.root, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return containers.Spec{ProjectID: id, Dir: dir}
}

func (e *env) state(t *testing.T, id string) containers.State {
	t.Helper()
	st, err := e.k.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st.State
}

// started makes a project and starts it: its pod exists, Pending on a
// cluster without a node.
func (e *env) started(t *testing.T) containers.Spec {
	t.Helper()
	spec := e.project(t)
	if _, err := e.k.Ensure(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if err := e.k.Start(context.Background(), spec.ProjectID); err != nil {
		t.Fatal(err)
	}
	return spec
}

// pod waits for the project's one pod, made by its ReplicaSet.
func (e *env) pod(t *testing.T, id string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, 30*time.Second, "the project's pod exists", func() bool {
		pods, err := cluster.Client.CoreV1().Pods("studio-"+id).List(context.Background(), metav1.ListOptions{})
		if err != nil || len(pods.Items) == 0 {
			return false
		}
		pod = &pods.Items[0]
		return true
	})
	return pod
}

func TestEnsureMakesAHardenedProject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	spec := e.project(t)
	st, err := e.k.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != containers.StateCreated {
		t.Fatalf("state after Ensure = %s, want created", st.State)
	}
	api := cluster.Client
	ns := "studio-" + spec.ProjectID

	n, err := api.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		labelProject:                         spec.ProjectID,
		labelInstance:                        e.k.opts.Instance,
		labelManaged:                         "true",
	} {
		if n.Labels[k] != v {
			t.Errorf("namespace label %s = %q, want %q", k, n.Labels[k], v)
		}
	}

	d, err := api.AppsV1().Deployments(ns).Get(ctx, devServer, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	checks := []struct {
		what string
		ok   bool
	}{
		{"zero replicas", *d.Spec.Replicas == 0},
		{"no service-account token", pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken},
		{"runAsNonRoot", *pod.SecurityContext.RunAsNonRoot && *c.SecurityContext.RunAsNonRoot},
		{"uid 1000", *pod.SecurityContext.RunAsUser == 1000},
		{"RuntimeDefault seccomp", pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"read-only root", *c.SecurityContext.ReadOnlyRootFilesystem},
		{"no privilege escalation", !*c.SecurityContext.AllowPrivilegeEscalation},
		{"all capabilities dropped", len(c.SecurityContext.Capabilities.Drop) == 1 && c.SecurityContext.Capabilities.Drop[0] == "ALL"},
		{"memory limit", c.Resources.Limits.Memory().Value() == 512<<20},
		{"cpu limit", c.Resources.Limits.Cpu().MilliValue() == 500},
		{"image", c.Image == "studio-runtime:test"},
		{"files at /app with the project's subPath", c.VolumeMounts[0].MountPath == appDir && c.VolumeMounts[0].SubPath == spec.ProjectID},
		{"size-limited /tmp", pod.Volumes[1].EmptyDir != nil && pod.Volumes[1].EmptyDir.SizeLimit != nil},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("deployment: want %s", ch.what)
		}
	}

	if _, err := api.CoreV1().Services(ns).Get(ctx, devServer, metav1.GetOptions{}); err != nil {
		t.Errorf("service: %v", err)
	}
	np, err := api.NetworkingV1().NetworkPolicies(ns).Get(ctx, devServer, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	from := np.Spec.Ingress[0].From[0]
	if from.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != studioNS || from.PodSelector.MatchLabels[labelApp] != "studio" {
		t.Errorf("network policy admits %+v, want studio's pods only", from)
	}
	public := np.Spec.Egress[1].To[0].IPBlock
	if public.CIDR != "0.0.0.0/0" || !slices.Contains(public.Except, "10.0.0.0/8") || !slices.Contains(public.Except, "169.254.0.0/16") {
		t.Errorf("egress %+v must exclude cluster-internal and metadata ranges", public)
	}
	q, err := api.CoreV1().ResourceQuotas(ns).Get(ctx, "studio", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Spec.Hard[corev1.ResourceLimitsMemory]; got.Value() != 2*512<<20 {
		t.Errorf("quota limits.memory = %s", got.String())
	}
	lr, err := api.CoreV1().LimitRanges(ns).Get(ctx, "studio", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := lr.Spec.Limits[0].Max[corev1.ResourceMemory]; got.Value() != 512<<20 {
		t.Errorf("limit range max memory = %s", got.String())
	}
	pv, err := api.CoreV1().PersistentVolumes().Get(ctx, e.k.volumeName(spec.ProjectID), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != e.root {
		t.Errorf("project volume %+v: want Retain on the shared volume's source", pv.Spec)
	}
	eventually(t, 30*time.Second, "the project's claim is bound", func() bool {
		c, err := api.CoreV1().PersistentVolumeClaims(ns).Get(ctx, filesClaim, metav1.GetOptions{})
		return err == nil && c.Status.Phase == corev1.ClaimBound
	})

	// The restricted level is enforced in the namespace: a pod that may
	// run as root with the default capabilities is refused whoever asks.
	bad := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "escape"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "studio-runtime:test"}}},
	}
	if _, err := api.CoreV1().Pods(ns).Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "restricted") {
		t.Errorf("an unhardened pod in a project's namespace: err = %v, want forbidden by the restricted level", err)
	}
}

func TestStartStopAndUpdate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	spec := e.started(t)
	if got := e.state(t, spec.ProjectID); got != containers.StateRunning {
		t.Fatalf("state after Start = %s", got)
	}
	// The API server admitted the pod in a restricted namespace: the
	// template passes the restricted Pod Security level.
	pod := e.pod(t, spec.ProjectID)
	if pod.Spec.Containers[0].Image != "studio-runtime:test" {
		t.Fatalf("pod image %s", pod.Spec.Containers[0].Image)
	}
	if _, err := e.k.Endpoint(ctx, spec.ProjectID); !errors.Is(err, containers.ErrNotRunning) {
		t.Errorf("Endpoint of a pod that does not run yet: %v, want ErrNotRunning", err)
	}

	// A new image: Ensure updates the template and keeps it running.
	e.k.opts.Image = "studio-runtime:newer"
	if _, err := e.k.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	d, err := cluster.Client.AppsV1().Deployments("studio-"+spec.ProjectID).Get(ctx, devServer, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 1 || d.Spec.Template.Spec.Containers[0].Image != "studio-runtime:newer" {
		t.Errorf("after Ensure with a new image: replicas %d image %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
	}

	// A protective object deleted behind studio's back is back after the
	// next Ensure; a namespace whose Pod Security level was lowered is
	// refused, as studio may not change namespaces.
	ns := "studio-" + spec.ProjectID
	if err := cluster.Client.NetworkingV1().NetworkPolicies(ns).Delete(ctx, devServer, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, devServer, metav1.GetOptions{}); err != nil {
		t.Errorf("the network policy after Ensure: %v", err)
	}
	lowered := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}`)
	if _, err := cluster.Client.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, lowered, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.Ensure(ctx, spec); err == nil || !strings.Contains(err.Error(), "no longer enforces the restricted") {
		t.Errorf("Ensure in a namespace that no longer enforces restricted: %v", err)
	}

	if err := e.k.Stop(ctx, spec.ProjectID); err != nil {
		t.Fatal(err)
	}
	if got := e.state(t, spec.ProjectID); got != containers.StateStopped {
		t.Fatalf("state after Stop = %s", got)
	}
	eventually(t, 30*time.Second, "the pod is gone after Stop", func() bool {
		pods, err := cluster.Client.CoreV1().Pods("studio-"+spec.ProjectID).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0
	})
	// Stopping and removing what is stopped or gone is a no-op.
	if err := e.k.Stop(ctx, spec.ProjectID); err != nil {
		t.Fatal(err)
	}
	if err := e.k.Stop(ctx, uuid.NewString()); err != nil {
		t.Errorf("Stop of a project without objects: %v", err)
	}
	if err := e.k.Start(ctx, uuid.NewString()); !errors.Is(err, containers.ErrNotFound) {
		t.Errorf("Start of a project without objects: %v, want ErrNotFound", err)
	}
}

func TestListManagedRemoveAndRecreate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	spec := e.project(t)
	if _, err := e.k.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	managed, err := e.k.ListManaged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(managed) != 1 || managed[0].ProjectID != spec.ProjectID || managed[0].State != containers.StateCreated {
		t.Fatalf("ListManaged = %+v", managed)
	}

	// A namespace deleted behind studio's back: reconcile's Ensure makes
	// it again, and the project's volume, left Released, is bound anew.
	ns := "studio-" + spec.ProjectID
	if err := cluster.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the namespace is gone", func() bool {
		_, err := cluster.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if got := e.state(t, spec.ProjectID); got != containers.StateMissing {
		t.Fatalf("state without a namespace = %s", got)
	}
	eventually(t, 30*time.Second, "the project's volume is released", func() bool {
		pv, err := cluster.Client.CoreV1().PersistentVolumes().Get(ctx, e.k.volumeName(spec.ProjectID), metav1.GetOptions{})
		return err == nil && pv.Status.Phase == corev1.VolumeReleased
	})
	if _, err := e.k.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the new claim is bound to the project's volume", func() bool {
		c, err := cluster.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, filesClaim, metav1.GetOptions{})
		return err == nil && c.Status.Phase == corev1.ClaimBound
	})

	if err := e.k.Remove(ctx, spec.ProjectID); err != nil {
		t.Fatal(err)
	}
	if err := e.k.Remove(ctx, spec.ProjectID); err != nil {
		t.Errorf("a second Remove: %v", err)
	}
	eventually(t, 60*time.Second, "the project's volume is deleted once its claim is", func() bool {
		_, err := cluster.Client.CoreV1().PersistentVolumes().Get(ctx, e.k.volumeName(spec.ProjectID), metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if _, err := os.Stat(spec.Dir); err != nil {
		t.Errorf("Remove must keep the files: %v", err)
	}
	eventually(t, 60*time.Second, "the project is no longer listed", func() bool {
		managed, err := e.k.ListManaged(ctx)
		return err == nil && len(managed) == 0
	})
}

func TestEnsureRefusesBadSpecs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.k.Ensure(ctx, containers.Spec{ProjectID: "../kube-system", Dir: e.root}); err == nil {
		t.Error("Ensure took a project id that is not a UUID")
	}
	outside := t.TempDir()
	if _, err := e.k.Ensure(ctx, containers.Spec{ProjectID: uuid.NewString(), Dir: outside}); err == nil || !strings.Contains(err.Error(), "not inside the projects volume") {
		t.Errorf("Ensure of a folder outside the projects volume: %v", err)
	}

	// A claim that does not exist says what to do.
	e2 := newEnv(t, func(o *Options) { o.ProjectsClaim = "missing-claim" })
	_, err := e2.k.Ensure(ctx, e2.project(t))
	if err == nil || !strings.Contains(err.Error(), "missing-claim does not exist") {
		t.Errorf("Ensure without the projects claim: %v", err)
	}
}

func TestWatchReportsWhatTheKubeletSees(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exits := make(chan containers.Exit, 8)
	go func() { _ = e.k.Watch(ctx, func(x containers.Exit) { exits <- x }) }()

	spec := e.started(t)
	pod := e.pod(t, spec.ProjectID)
	running := func(s *corev1.PodStatus) {
		s.Phase = corev1.PodRunning
		s.PodIP = "10.88.200.7"
		s.ContainerStatuses = []corev1.ContainerStatus{{
			Name: devServer, Image: "studio-runtime:test", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
		}}
	}
	if _, err := cluster.WritePodStatusAsKubelet(ctx, pod.Namespace, pod.Name, running); err != nil {
		t.Fatal(err)
	}
	// At once, before the informer need have seen it: the proxy asks
	// this of a project that just turned active, and a wrong "no"
	// restarts it.
	if !e.k.Serves(spec.ProjectID, "10.88.200.7:5173") {
		t.Error("Serves says no to a pod the API server reports running")
	}
	eventually(t, 10*time.Second, "the endpoint is the pod's address", func() bool {
		ep, err := e.k.Endpoint(ctx, spec.ProjectID)
		return err == nil && ep == "10.88.200.7:5173"
	})
	select {
	case x := <-exits:
		t.Fatalf("a running pod reported %+v", x)
	case <-time.After(200 * time.Millisecond):
	}
	// The proxy's check: the address is this project's, and no other's.
	if !e.k.Serves(spec.ProjectID, "10.88.200.7:5173") || e.k.Serves(uuid.NewString(), "10.88.200.7:5173") || e.k.Serves(spec.ProjectID, "10.88.200.8:5173") {
		t.Error("Serves does not tell the project's own address from others")
	}

	// The kernel kills the dev server for memory; the kubelet restarts it.
	_, err := cluster.WritePodStatusAsKubelet(ctx, pod.Namespace, pod.Name, func(s *corev1.PodStatus) {
		s.ContainerStatuses[0].RestartCount = 1
		s.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 137, Reason: "OOMKilled", FinishedAt: metav1.Now(),
		}}
	})
	if err != nil {
		t.Fatal(err)
	}
	var x containers.Exit
	select {
	case x = <-exits:
	case <-time.After(20 * time.Second):
		t.Fatal("no exit reported for an OOM-killed dev server")
	}
	if x.ProjectID != spec.ProjectID || !x.OOMKilled || x.Reason() != "ran out of memory" {
		t.Errorf("exit = %+v (%s)", x, x.Reason())
	}
	// Like a Docker container that died, it stays stopped.
	if got := e.state(t, spec.ProjectID); got != containers.StateStopped {
		t.Errorf("state after a crash = %s, want stopped", got)
	}
	// A pod that failed before the next start (evicted, say) lingers; it
	// is not that start's, so it does not fail it.
	d, err := cluster.Client.AppsV1().Deployments(pod.Namespace).Get(ctx, devServer, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evicted := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "evicted", Labels: d.Spec.Template.Labels}, Spec: d.Spec.Template.Spec}
	if _, err := cluster.Client.CoreV1().Pods(pod.Namespace).Create(ctx, evicted, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.WritePodStatusAsKubelet(ctx, pod.Namespace, "evicted", func(s *corev1.PodStatus) {
		s.Phase, s.Reason, s.Message = corev1.PodFailed, "Evicted", "The node was low on resource: ephemeral-storage."
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the informer sees the evicted pod", func() bool {
		for _, p := range e.k.podsOf(pod.Namespace) {
			if p.Name == "evicted" && p.Status.Phase == corev1.PodFailed {
				return true
			}
		}
		return false
	})
	time.Sleep(1100 * time.Millisecond) // pod creation times have whole seconds
	if err := e.k.Start(ctx, spec.ProjectID); err != nil {
		t.Fatal(err)
	}
	if err := e.k.checkRunning(ctx, spec.ProjectID, "studio-"+spec.ProjectID, ""); err != nil {
		t.Errorf("a new start is failed by an older pod: %v", err)
	}
}

func TestWaitReadySaysWhyThePodCannotRun(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	t.Run("image cannot be pulled", func(t *testing.T) {
		spec := e.started(t)
		pod := e.pod(t, spec.ProjectID)
		_, err := cluster.WritePodStatusAsKubelet(ctx, pod.Namespace, pod.Name, func(s *corev1.PodStatus) {
			s.ContainerStatuses = []corev1.ContainerStatus{{Name: devServer, Image: "studio-runtime:test", State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "studio-runtime:test"`},
			}}}
		})
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err = e.k.WaitReady(wctx, spec.ProjectID, "/", nil)
		var exit *containers.ExitError
		if !errors.As(err, &exit) || !strings.Contains(exit.Exit.Reason(), "runtime image studio-runtime:test cannot be pulled") {
			t.Errorf("WaitReady = %v, want the image pull failure", err)
		}
	})

	t.Run("quota refuses the pod", func(t *testing.T) {
		spec := e.project(t)
		if _, err := e.k.Ensure(ctx, spec); err != nil {
			t.Fatal(err)
		}
		ns := "studio-" + spec.ProjectID
		// The quota controller writes the quota's status meanwhile: read
		// it again and retry when the update loses that race.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			q, err := cluster.Client.CoreV1().ResourceQuotas(ns).Get(ctx, "studio", metav1.GetOptions{})
			if err != nil {
				return err
			}
			q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("0")
			_, err = cluster.Client.CoreV1().ResourceQuotas(ns).Update(ctx, q, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the quota is in force", func() bool {
			q, err := cluster.Client.CoreV1().ResourceQuotas(ns).Get(ctx, "studio", metav1.GetOptions{})
			hard := q.Status.Hard[corev1.ResourcePods]
			return err == nil && hard.Value() == 0 && q.Status.Hard != nil
		})
		if err := e.k.Start(ctx, spec.ProjectID); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		_, err = e.k.WaitReady(wctx, spec.ProjectID, "/", nil)
		var exit *containers.ExitError
		if !errors.As(err, &exit) || !strings.Contains(exit.Exit.Reason(), "exceeded quota") {
			t.Errorf("WaitReady = %v, want the quota refusal", err)
		}
	})
}

func TestProblemFromPodStatus(t *testing.T) {
	k := &Kube{opts: Options{Image: "img:1"}}
	now := time.Now()
	long := metav1.NewTime(now.Add(-time.Minute))
	fresh := metav1.NewTime(now)
	tests := []struct {
		name   string
		status corev1.PodStatus
		want   string // "" = no problem
	}{
		{"pending", corev1.PodStatus{Phase: corev1.PodPending}, ""},
		{"unschedulable for a moment", corev1.PodStatus{Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available", LastTransitionTime: fresh,
		}}}, ""},
		{"unschedulable", corev1.PodStatus{Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient memory.", LastTransitionTime: long,
		}}}, "no node can run it: 0/1 nodes are available: 1 Insufficient memory."},
		{"evicted", corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: ephemeral-storage."},
			"the pod was stopped by Kubernetes (Evicted): The node was low on resource: ephemeral-storage."},
		{"crash loop", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: devServer, RestartCount: 3,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}},
		}}}, "exited with code 1"},
		{"bad config", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: devServer, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: "secret x not found"}},
		}}}, "the container cannot be created: secret x not found"},
	}
	for _, tt := range tests {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{labelProject: "p"}}, Status: tt.status}
		got := ""
		if e := k.problem(pod, now); e != nil {
			got = e.Reason()
		}
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestUnreachableAPIServerIsAClearError(t *testing.T) {
	k, err := New(Options{Config: &rest.Config{Host: "https://127.0.0.1:1", Timeout: 2 * time.Second}, Instance: "gone",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx := context.Background()
	if err := k.Ping(ctx); !errors.Is(err, containers.ErrEngineUnavailable) {
		t.Errorf("Ping = %v, want ErrEngineUnavailable", err)
	}
	if _, err := k.Status(ctx, uuid.NewString()); !errors.Is(err, containers.ErrEngineUnavailable) {
		t.Errorf("Status = %v, want ErrEngineUnavailable", err)
	}
	if _, err := k.ListManaged(ctx); !errors.Is(err, containers.ErrEngineUnavailable) {
		t.Errorf("ListManaged = %v, want ErrEngineUnavailable", err)
	}
}

// eventually names what is waited for before the condition, which reads
// better where the condition is a long closure.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testwait.Eventually(t, timeout, cond, what)
}

func TestNoClusterConfigSaysWhatIsMissing(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing.kubeconfig"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	_, err := New(Options{})
	if err == nil || !strings.Contains(err.Error(), "no in-cluster service account and no usable KUBECONFIG") {
		t.Errorf("New without a cluster: %v", err)
	}
}
