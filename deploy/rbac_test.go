package deploy

import (
	"fmt"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// access is one request studio's ServiceAccount may or may not make.
type access struct {
	verb, group, resource, subresource, namespace string
}

func (a access) String() string {
	r := a.resource
	if a.group != "" {
		r += "." + a.group
	}
	if a.subresource != "" {
		r += "/" + a.subresource
	}
	if a.namespace != "" {
		return fmt.Sprintf("%s %s in %s", a.verb, r, a.namespace)
	}
	return a.verb + " " + r
}

// every expands verbs over one resource.
func every(group, resource, subresource, namespace string, verbs ...string) []access {
	out := make([]access, len(verbs))
	for i, v := range verbs {
		out[i] = access{v, group, resource, subresource, namespace}
	}
	return out
}

// projectNS is a namespace as the runtime names a project's.
const projectNS = "studio-3f1c9a52-8d0e-4b7a-9c61-2e5f0a7d4b19"

// runtimeNeeds is every call the Kubernetes runtime makes.
func runtimeNeeds() []access {
	var a []access
	a = append(a, every("", "namespaces", "", "", "get", "list", "create", "delete")...)
	a = append(a, every("", "persistentvolumes", "", "", "get", "list", "create", "delete")...)
	a = append(a, every("apps", "deployments", "", "", "list")...)
	a = append(a, every("apps", "deployments", "", projectNS, "get", "create", "update", "patch")...)
	for _, r := range []struct{ group, resource string }{
		{"", "services"}, {"networking.k8s.io", "networkpolicies"}, {"", "resourcequotas"}, {"", "limitranges"},
	} {
		a = append(a, every(r.group, r.resource, "", projectNS, "get", "create", "patch")...)
	}
	a = append(a, every("", "persistentvolumeclaims", "", projectNS, "get", "create")...)
	// A new namespace's default ServiceAccount is waited for.
	a = append(a, every("", "serviceaccounts", "", projectNS, "get")...)
	a = append(a, every("", "pods", "", "", "list", "watch")...)
	a = append(a, every("", "pods", "", projectNS, "get", "list", "watch")...)
	a = append(a, every("", "pods", "log", projectNS, "get")...)
	a = append(a, every("", "pods", "exec", projectNS, "create", "get")...)
	// studio reads its own projects claim to find the volume's source.
	a = append(a, access{"get", "", "persistentvolumeclaims", "", "studio"})
	return a
}

// runtimeMustNot is what would let project code, or anyone who took over
// studio, out of the projects: secrets, nodes, pods outside a Deployment,
// weakening a namespace's Pod Security label, granting itself more.
func runtimeMustNot() []access {
	var a []access
	for _, ns := range []string{projectNS, "studio", "kube-system"} {
		a = append(a, every("", "secrets", "", ns, "get", "list", "watch")...)
		a = append(a, every("", "pods", "", ns, "create", "update", "delete")...)
		a = append(a, every("", "configmaps", "", ns, "get")...)
		a = append(a, every("rbac.authorization.k8s.io", "roles", "", ns, "create", "bind", "escalate")...)
		a = append(a, every("rbac.authorization.k8s.io", "rolebindings", "", ns, "create")...)
	}
	a = append(a, every("", "secrets", "", "", "list")...)
	a = append(a, every("", "namespaces", "", "", "update", "patch")...)
	a = append(a, every("", "persistentvolumes", "", "", "update", "patch")...)
	a = append(a, every("", "nodes", "", "", "get", "list", "patch", "delete")...)
	a = append(a, every("", "nodes", "proxy", "", "get")...)
	a = append(a, every("", "pods", "attach", projectNS, "create")...)
	a = append(a, every("", "pods", "portforward", projectNS, "create")...)
	a = append(a, every("", "pods", "ephemeralcontainers", projectNS, "update", "patch")...)
	a = append(a, every("", "serviceaccounts", "", projectNS, "create")...)
	a = append(a, every("", "serviceaccounts", "token", "studio", "create")...)
	a = append(a, every("", "events", "", projectNS, "create", "delete")...)
	a = append(a, every("apps", "daemonsets", "", projectNS, "create")...)
	a = append(a, every("apps", "statefulsets", "", projectNS, "create")...)
	a = append(a, every("batch", "jobs", "", projectNS, "create")...)
	a = append(a, every("rbac.authorization.k8s.io", "clusterroles", "", "", "create", "update", "bind", "escalate")...)
	a = append(a, every("rbac.authorization.k8s.io", "clusterrolebindings", "", "", "create", "update")...)
	a = append(a, every("", "users", "", "", "impersonate")...)
	a = append(a, every("", "serviceaccounts", "", "kube-system", "impersonate")...)
	a = append(a, every("certificates.k8s.io", "certificatesigningrequests", "", "", "create")...)
	a = append(a, every("admissionregistration.k8s.io", "validatingwebhookconfigurations", "", "", "create")...)
	a = append(a, every("apiextensions.k8s.io", "customresourcedefinitions", "", "", "create")...)
	return a
}

// TestStudioServiceAccountRBAC stores the rendered RBAC objects and asks the
// API server's own authorizer (SubjectAccessReview) about studio's
// ServiceAccount: it may make every call the runtime makes and none of the
// ones that would reach past the projects.
func TestStudioServiceAccountRBAC(t *testing.T) {
	applyForReal(t, render(t, "kubernetes"), "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding")
	c := admin(t)
	for _, a := range runtimeNeeds() {
		if !allowed(t, c, a) {
			t.Errorf("studio may not %s", a)
		}
	}
	for _, a := range runtimeMustNot() {
		if allowed(t, c, a) {
			t.Errorf("studio may %s", a)
		}
	}
}

// allowed asks the API server whether studio's ServiceAccount may do a.
func allowed(t *testing.T, c kubernetes.Interface, a access) bool {
	t.Helper()
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   studioUser.UserName,
		Groups: studioUser.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource, Namespace: a.namespace,
		},
	}}
	res, err := c.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), review, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	return res.Status.Allowed
}

// TestClusterRoleGrantsOnlyWhatTheRuntimeNeeds reads the rendered ClusterRole
// itself: every verb on every resource it grants is one the runtime needs, so
// a grant added to rbac.yaml must be added to runtimeNeeds, and said why.
func TestClusterRoleGrantsOnlyWhatTheRuntimeNeeds(t *testing.T) {
	t.Parallel()
	needed := map[string]bool{}
	for _, a := range runtimeNeeds() {
		needed[grant(a.verb, a.group, a.resource, a.subresource)] = true
	}
	role := typed[rbacv1.ClusterRole](t, find(t, render(t, "kubernetes"), "ClusterRole", "studio"))
	for _, rule := range role.Rules {
		if len(rule.ResourceNames) > 0 || len(rule.NonResourceURLs) > 0 {
			t.Errorf("rule %+v: the runtime needs no resourceNames or nonResourceURLs", rule)
		}
		for _, group := range rule.APIGroups {
			for _, res := range rule.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				for _, verb := range rule.Verbs {
					if !needed[grant(verb, group, resource, sub)] {
						t.Errorf("the ClusterRole grants %s on %s in group %q, which the runtime does not need", verb, res, group)
					}
				}
			}
		}
	}
}

func grant(verb, group, resource, subresource string) string {
	return verb + " " + group + "/" + resource + "/" + subresource
}
