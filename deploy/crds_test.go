package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
)

var (
	crdsOnce sync.Once
	crdsErr  error
)

// installCRDs stores the CustomResourceDefinitions in testdata/crds
// (Traefik's and cert-manager's, see its README) on the test API server and
// waits until it serves them, so the overlays that use them can be applied.
func installCRDs(t *testing.T) {
	t.Helper()
	crdsOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		crdsErr = storeCRDs(ctx, newApplier(t, nil))
	})
	if crdsErr != nil {
		t.Fatal(crdsErr)
	}
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

func storeCRDs(ctx context.Context, a *applier) error {
	files, err := filepath.Glob("testdata/crds/*.yaml")
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("no CRDs in testdata/crds")
	}
	var crds []*unstructured.Unstructured
	for _, file := range files {
		docs, err := readYAMLDocuments(file)
		if err != nil {
			return err
		}
		for _, o := range docs {
			if o.GetKind() != "CustomResourceDefinition" {
				return fmt.Errorf("%s: a %s among the CRDs", file, o.GetKind())
			}
			if err := a.apply(ctx, o, false); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			crds = append(crds, o)
		}
	}
	disco, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		return err
	}
	for _, crd := range crds {
		if err := waitServed(ctx, a, disco, crd); err != nil {
			return err
		}
	}
	return nil
}

// waitServed waits until the CRD is Established and discovery lists its
// resource in every served version: then a client's REST mapper finds it.
func waitServed(ctx context.Context, a *applier, disco kubernetes.Interface, crd *unstructured.Unstructured) error {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := a.dyn.Resource(crdResource).Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conditions, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		established := slices.ContainsFunc(conditions, func(c any) bool {
			m, _ := c.(map[string]any)
			return m["type"] == "Established" && m["status"] == "True"
		})
		if !established {
			return false, nil
		}
		for _, v := range versions {
			m, _ := v.(map[string]any)
			if served, _ := m["served"].(bool); !served {
				continue
			}
			list, err := disco.Discovery().ServerResourcesForGroupVersion(group + "/" + m["name"].(string))
			if err != nil {
				return false, nil
			}
			if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == plural }) {
				return false, nil
			}
		}
		return true, nil
	})
}

// readYAMLDocuments reads every object of a multi-document YAML file.
func readYAMLDocuments(file string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 64<<10)
	var docs []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(m) > 0 {
			docs = append(docs, &unstructured.Unstructured{Object: m})
		}
	}
}
