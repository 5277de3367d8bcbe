package deploy

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"studio/containers"
	"studio/containers/kube"
	"studio/internal/testwait"
)

// TestStudioServiceAccountRunsAProject runs studio's Kubernetes runtime
// itself as studio's ServiceAccount: it makes a project, starts, stops and
// ensures it again after its namespace was deleted behind its back, and
// removes it; then checks that the same identity is refused the calls that
// would reach past the project.
func TestStudioServiceAccountRunsAProject(t *testing.T) {
	applyForReal(t, render(t, "kubernetes"), "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
	ctx := t.Context()
	studio := asStudio(t)
	root := t.TempDir()
	claim := "projects-" + uuid.NewString()[:8]
	if err := cluster.HostPathClaim(ctx, "studio", claim, root); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.DeleteHostPathClaim(context.Background(), "studio", claim) })
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = studioUser
	rt, err := kube.New(kube.Options{Config: cfg, Namespace: "studio", ProjectsClaim: claim, VolumeRoot: root, Instance: "test",
		StopTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	id := uuid.NewString()
	ns := "studio-" + id
	dir := filepath.Join(root, "projects", id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := containers.Spec{ProjectID: id, Dir: dir}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s as studio: %v", what, err)
		}
	}
	// t.Context() ends before cleanups run.
	t.Cleanup(func() { _ = rt.Remove(context.Background(), id) })

	_, err = rt.Ensure(ctx, spec)
	must("Ensure", err)
	must("Start", rt.Start(ctx, id))
	must("Stop", rt.Stop(ctx, id))
	_, err = rt.ListManaged(ctx)
	must("ListManaged", err)

	// The namespace deleted behind studio's back: Ensure waits for it to
	// go, makes it again and frees the project's Released volume.
	a := admin(t)
	must("delete the namespace (as the administrator)", a.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}))
	testwait.Eventually(t, 60*time.Second, func() bool {
		pv, err := a.CoreV1().PersistentVolumes().Get(ctx, "studio-test-"+id, metav1.GetOptions{})
		return err == nil && pv.Status.Phase == corev1.VolumeReleased
	}, "the project's volume is released")
	_, err = rt.Ensure(ctx, spec)
	must("Ensure after the namespace was deleted", err)
	testwait.Eventually(t, 30*time.Second, func() bool {
		c, err := a.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "files", metav1.GetOptions{})
		return err == nil && c.Status.Phase == corev1.ClaimBound
	}, "the new claim is bound")
	create := metav1.CreateOptions{}

	refused := map[string]error{}
	_, refused["read a secret"] = studio.CoreV1().Secrets("studio").Get(ctx, "studio-database", metav1.GetOptions{})
	_, refused["create a pod"] = studio.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "direct"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
	}, create)
	_, refused["bind a role"] = studio.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: ns}},
	}, create)
	_, refused["relabel the namespace"] = studio.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json",
		[]byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}`), metav1.PatchOptions{})
	_, refused["list nodes"] = studio.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	for what, err := range refused {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s as studio: got %v, want Forbidden", what, err)
		}
	}

	must("Remove", rt.Remove(ctx, id))
}

// TestAdmissionPolicyConfinesStudio: with the shipped admission policy,
// studio's ServiceAccount cannot use its ClusterRole outside the
// namespaces it labels, nor make a namespace or a Deployment that would
// weaken a project's isolation.
func TestAdmissionPolicyConfinesStudio(t *testing.T) {
	applyForReal(t, render(t, "kubernetes"), "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
	ctx := t.Context()
	studio := asStudio(t)
	deployment := func(ns, serviceAccount string) *appsv1.Deployment {
		labels := map[string]string{"app": "x"}
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "x-" + uuid.NewString()[:6], Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](0),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
					ServiceAccountName:           serviceAccount,
					AutomountServiceAccountToken: ptr.To(false),
					Containers:                   []corev1.Container{{Name: "x", Image: "x"}},
				}},
			},
		}
	}
	refusedByPolicy := func(what string, err error) {
		t.Helper()
		if err == nil || !(apierrors.IsInvalid(err) || apierrors.IsForbidden(err)) || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
			t.Errorf("%s as studio: %v, want refused by the admission policy", what, err)
		}
	}
	// The policy takes a moment to be loaded.
	testwait.Eventually(t, 30*time.Second, func() bool {
		_, err := studio.AppsV1().Deployments("default").Create(ctx, deployment("default", ""), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy")
	}, "the admission policy refuses a Deployment in an unlabelled namespace")

	_, err := studio.AppsV1().Deployments("kube-system").Create(ctx, deployment("kube-system", ""), metav1.CreateOptions{})
	refusedByPolicy("a Deployment in kube-system", err)
	_, err = studio.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	refusedByPolicy("a Service in default", err)
	_, err = studio.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "victim-" + uuid.NewString()[:6]}}, metav1.CreateOptions{})
	refusedByPolicy("an unlabelled namespace", err)
	weak := "studio-" + uuid.NewString()
	_, err = studio.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: weak, Labels: map[string]string{"studio.managed": "true", "pod-security.kubernetes.io/enforce": "privileged"},
	}}, metav1.CreateOptions{})
	refusedByPolicy("a project namespace without the restricted level", err)
	bystander := "bystander-" + uuid.NewString()[:6]
	if _, err := admin(t).CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: bystander}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin(t).CoreV1().Namespaces().Delete(context.Background(), bystander, metav1.DeleteOptions{})
	})
	err = studio.CoreV1().Namespaces().Delete(ctx, bystander, metav1.DeleteOptions{})
	refusedByPolicy("deleting a namespace studio did not label", err)
	// Admission runs before the API server looks for the pod, so a name
	// that does not exist shows the policy's answer as well as a real one.
	err = studio.CoreV1().RESTClient().Post().Namespace(bystander).Resource("pods").Name("workload").SubResource("exec").
		Param("command", "id").Param("stdout", "true").Do(ctx).Error()
	refusedByPolicy("exec into a pod of a namespace studio did not label", err)

	// In a namespace studio labels, a Deployment may not pick another
	// ServiceAccount.
	ns := "studio-" + uuid.NewString()
	_, err = studio.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{"studio.managed": "true", "pod-security.kubernetes.io/enforce": "restricted"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a proper project namespace as studio: %v", err)
	}
	t.Cleanup(func() { _ = admin(t).CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	_, err = studio.AppsV1().Deployments(ns).Create(ctx, deployment(ns, "admin"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	refusedByPolicy("a Deployment running as another ServiceAccount", err)
}
