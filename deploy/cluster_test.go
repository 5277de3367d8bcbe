package deploy

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"studio/internal/kubetest"
)

// cluster is a real API server (etcd, kube-apiserver and
// kube-controller-manager on loopback) shared by this package's tests.
var cluster *kubetest.Cluster

func TestMain(m *testing.M) { kubetest.Main(m, kubetest.Options{}, &cluster) }

// studioUser is who studio's pods are to the API server.
var studioUser = rest.ImpersonationConfig{
	UserName: "system:serviceaccount:studio:studio",
	Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:studio", "system:authenticated"},
}

// warnings collects the warnings the API server sends back (deprecations,
// Pod Security levels a workload would violate).
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}

// applier applies unstructured objects with server-side apply, as
// `kubectl apply --server-side` does.
type applier struct {
	dyn      dynamic.Interface
	mapper   meta.RESTMapper
	warnings *warnings
}

// newApplier returns an applier acting as the cluster's administrator, or as
// the user impersonate names when it is not nil.
func newApplier(t *testing.T, impersonate *rest.ImpersonationConfig) *applier {
	t.Helper()
	cfg := rest.CopyConfig(cluster.Config)
	w := &warnings{}
	cfg.WarningHandler = w
	if impersonate != nil {
		cfg.Impersonate = *impersonate
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	disco, err := kubernetes.NewForConfig(rest.CopyConfig(cluster.Config))
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco.Discovery()))
	return &applier{dyn: dyn, mapper: mapper, warnings: w}
}

// resource is the client for o's kind in o's namespace.
func (a *applier) resource(o *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := o.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", gvk, err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.dyn.Resource(mapping.Resource).Namespace(o.GetNamespace()), nil
	}
	return a.dyn.Resource(mapping.Resource), nil
}

// apply applies o; with dryRun the server validates, defaults and admits it
// but stores nothing.
func (a *applier) apply(ctx context.Context, o *unstructured.Unstructured, dryRun bool) error {
	ri, err := a.resource(o)
	if err != nil {
		return err
	}
	opts := metav1.ApplyOptions{FieldManager: "studio-deploy-test", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := ri.Apply(ctx, o.GetName(), o, opts); err != nil {
		return fmt.Errorf("apply %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
	return nil
}

// admin returns a typed client acting as the cluster's administrator,
// with a generous client-side rate limit: the RBAC test asks many questions.
func admin(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// asStudio returns a typed client acting as studio's ServiceAccount.
func asStudio(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = studioUser
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// applyForReal applies the rendered objects of these kinds, stored, so later
// checks (RBAC, admission) see them.
func applyForReal(t *testing.T, objects []*unstructured.Unstructured, kinds ...string) {
	t.Helper()
	a := newApplier(t, nil)
	for _, kind := range kinds {
		for _, o := range objects {
			if o.GetKind() == kind {
				if err := a.apply(t.Context(), o, false); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
