package deploy

import (
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomizations are every kustomization a reader may apply: the base and
// each example overlay.
var kustomizations = []string{
	"kubernetes",
	"kubernetes/examples/nfs",
	"kubernetes/examples/traefik",
	"kubernetes/examples/traefik-acme",
}

// render builds the kustomization in dir exactly as `kubectl apply -k` would.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objects []*unstructured.Unstructured
	for _, r := range resources.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		objects = append(objects, &unstructured.Unstructured{Object: m})
	}
	return objects
}

// find returns the rendered object of that kind and name, failing the test
// when there is none.
func find(t *testing.T, objects []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %q among the rendered objects", kind, name)
	return nil
}

// findPrefix is find for generated objects, whose names carry a hash suffix.
func findPrefix(t *testing.T, objects []*unstructured.Unstructured, kind, prefix string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objects {
		if o.GetKind() == kind && len(o.GetName()) > len(prefix) && o.GetName()[:len(prefix)] == prefix {
			return o
		}
	}
	t.Fatalf("no %s named %s… among the rendered objects", kind, prefix)
	return nil
}

// typed converts a rendered object into its API type.
func typed[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &v); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return &v
}

// studioDeployment returns the rendered studio Deployment and its one
// container.
func studioDeployment(t *testing.T, objects []*unstructured.Unstructured) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	d := typed[appsv1.Deployment](t, find(t, objects, "Deployment", "studio"))
	for i, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "studio" {
			return d, &d.Spec.Template.Spec.Containers[i]
		}
	}
	t.Fatal("the studio Deployment has no container named studio")
	return nil, nil
}
