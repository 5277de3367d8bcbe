package deploy

import (
	"testing"
)

// TestManifestsApply applies every object of every kustomization to the real
// API server with a server-side dry run: each one passes validation,
// defaulting and admission as it would in a cluster. The Namespace is stored
// first, because objects in a namespace that does not exist are refused.
// The Traefik overlays' kinds (IngressRoute, Middleware, ServersTransport,
// cert-manager's Certificate and ClusterIssuer) are checked against the
// projects' own CRDs, stored first.
func TestManifestsApply(t *testing.T) {
	installCRDs(t)
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			objects := render(t, dir)
			applyForReal(t, objects, "Namespace")
			a := newApplier(t, nil)
			for _, o := range objects {
				if err := a.apply(t.Context(), o, true); err != nil {
					t.Error(err)
				}
			}
			// The studio namespace warns about Pod Security as well as
			// enforcing it, so a Deployment that would make refused pods
			// is reported here, at apply time.
			if w := a.warnings.all(); len(w) > 0 {
				t.Errorf("the API server warned: %q", w)
			}
		})
	}
}
