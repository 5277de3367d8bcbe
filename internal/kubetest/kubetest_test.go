package kubetest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"studio/internal/testwait"
)

// cluster is this package's control plane without a node; node_test.go
// starts its own cluster with a node.
var cluster *Cluster

func TestMain(m *testing.M) { Main(m, Options{}, &cluster) }

func newNamespace(t *testing.T, c *Cluster) string {
	t.Helper()
	ctx := context.Background()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "kubetest-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

func TestKubeconfigFileReachesTheAPIServer(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), cluster.Config.Host) {
		t.Fatalf("kubeconfig does not name %s:\n%s", cluster.Config.Host, data)
	}
	if _, err := cluster.Client.Discovery().ServerVersion(); err != nil {
		t.Fatalf("server version: %v", err)
	}
}

func TestNamespaceDeletionFinishes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := newNamespace(t, cluster)
	_, err := cluster.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "content"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, time.Minute, func() bool {
		_, err := cluster.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, "the namespace is gone")
}

func TestDeploymentMakesPodsThatStayPendingWithoutANode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := newNamespace(t, cluster)
	labels := map[string]string{"app": "pending"}
	replicas := int32(2)
	_, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "pending"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "probe", Image: ProbeImage,
				}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The scheduler has looked at a pod once it says why it cannot place it.
	testwait.Eventually(t, time.Minute, func() bool {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) != 2 {
			return false
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodPending || !unschedulable(&p) {
				return false
			}
		}
		return true
	}, "two pods are pending and unschedulable")
}

func unschedulable(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
		}
	}
	return false
}

func TestServiceAccountTokensAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := newNamespace(t, cluster)
	sa, err := cluster.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "robot"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token, err := cluster.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("request token: %v", err)
	}
	config := rest.AnonymousClientConfig(cluster.Config)
	config.BearerToken = token.Status.Token
	client := kubernetes.NewForConfigOrDie(config)
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("self subject review with the token: %v", err)
	}
	if want := "system:serviceaccount:" + ns + ":robot"; review.Status.UserInfo.Username != want {
		t.Fatalf("token authenticates as %q, want %q", review.Status.UserInfo.Username, want)
	}
	// The token grants nothing RBAC does not give it.
	_, err = client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("listing secrets with a bare service-account token: %v, want forbidden", err)
	}
	// Pods verify the API server with the CA the controller-manager
	// publishes in every namespace.
	testwait.Eventually(t, time.Minute, func() bool {
		cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err == nil && cm.Data["ca.crt"] != ""
	}, "kube-root-ca.crt is published")
}

func TestWritePodStatusAsKubelet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := newNamespace(t, cluster)
	_, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "oom"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: ProbeImage}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := cluster.WritePodStatusAsKubelet(ctx, ns, "oom", func(s *corev1.PodStatus) {
		s.Phase = corev1.PodRunning
		s.ContainerStatuses = []corev1.ContainerStatus{{
			Name: "app", Image: ProbeImage, RestartCount: 1,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: "OOMKilled",
			}},
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		}}
	})
	if err != nil {
		t.Fatalf("write status: %v", err)
	}
	got, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "oom", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != pod.ResourceVersion || got.Status.Phase != corev1.PodRunning ||
		got.Status.ContainerStatuses[0].LastTerminationState.Terminated.Reason != "OOMKilled" {
		t.Fatalf("status after the write: %+v", got.Status)
	}
}
