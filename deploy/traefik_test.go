package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// traefikOverlays are the overlays that route studio with Traefik's
// IngressRoutes: TLS from cert-manager, and from Traefik's own ACME.
var traefikOverlays = []string{
	"kubernetes/examples/traefik",
	"kubernetes/examples/traefik-acme",
}

// TestTraefikRoutes reads the rendered IngressRoutes as Traefik would and
// checks them against the hosts studio itself answers to (its settings go
// through config.Load): the UI's host and every project's preview host reach
// studio's Service over TLS with a certificate that covers them, plain http
// only redirects, nothing else is routed, and no route leads anywhere but
// studio's Service, least of all into a project's namespace.
func TestTraefikRoutes(t *testing.T) {
	t.Parallel()
	for _, dir := range traefikOverlays {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			objects := render(t, dir)
			cfg, _ := studioConfig(t, objects)
			svc := typed[corev1.Service](t, find(t, objects, "Service", "studio"))
			ns := svc.Namespace

			for _, o := range objects {
				if o.GetKind() == "Ingress" {
					t.Errorf("Ingress %s is rendered too: Traefik would route the same hosts twice", o.GetName())
				}
			}
			routes := ingressRoutes(t, objects)
			if len(routes) == 0 {
				t.Fatal("no IngressRoutes")
			}

			// Every route, whatever it matches, leads to studio's Service in
			// studio's namespace, through objects this overlay defines.
			for _, r := range routes {
				if r.namespace != ns {
					t.Errorf("IngressRoute %s is in namespace %q, want %q", r.name, r.namespace, ns)
				}
				for _, s := range r.services {
					where := fmt.Sprintf("IngressRoute %s, route %q", r.name, r.match)
					if s.kind != "" && s.kind != "Service" {
						t.Errorf("%s: a %s, want studio's Service", where, s.kind)
					}
					if s.name != svc.Name || (s.namespace != "" && s.namespace != ns) {
						t.Errorf("%s: goes to %s/%s, want %s/%s", where, s.namespace, s.name, ns, svc.Name)
					}
					if strings.HasPrefix(s.namespace, "studio-") {
						t.Errorf("%s: goes into the project namespace %s", where, s.namespace)
					}
					if !servicePort(svc, s.port) {
						t.Errorf("%s: port %v is not one of the Service's", where, s.port)
					}
					if !s.passHostHeader {
						t.Errorf("%s: passHostHeader is off; studio routes on the Host header", where)
					}
					if s.sticky {
						t.Errorf("%s: sticky sessions; studio is stateless, any replica serves any request", where)
					}
					if s.serversTransport != "" {
						find(t, objects, "ServersTransport", s.serversTransport)
					}
				}
				for _, m := range r.middlewares {
					if m.namespace != "" && m.namespace != ns {
						t.Errorf("IngressRoute %s: middleware %s/%s is outside studio's namespace", r.name, m.namespace, m.name)
					}
					find(t, objects, "Middleware", m.name)
				}
			}

			redirect := find(t, objects, "Middleware", "redirect-https")
			if scheme, _, _ := unstructured.NestedString(redirect.Object, "spec", "redirectScheme", "scheme"); scheme != "https" {
				t.Errorf("Middleware redirect-https redirects to %q, want https", scheme)
			}
			if permanent, _, _ := unstructured.NestedBool(redirect.Object, "spec", "redirectScheme", "permanent"); !permanent {
				t.Error("Middleware redirect-https is not permanent")
			}
			for _, r := range routes {
				if slices.Contains(r.entryPoints, "web") && (len(r.middlewares) == 0 || r.middlewares[0].name != "redirect-https") {
					t.Errorf("IngressRoute %s serves plain http without redirecting to https first", r.name)
				}
			}

			// The hosts studio answers to, and some it does not.
			studioHosts := []string{cfg.UIHost()}
			for _, slug := range []string{"my-app", "a", "0", "todo-list-x3k9q", strings.Repeat("abcdefghij", 4)} {
				studioHosts = append(studioHosts, slug+"."+cfg.PreviewDomain)
			}
			strangers := []string{
				"example.com",
				cfg.PreviewDomain,
				"a.b." + cfg.PreviewDomain,
				"my-app." + cfg.PreviewDomain + ".attacker.example",
				"my-app." + strings.ReplaceAll(cfg.PreviewDomain, ".", "x"),
				"my_app." + cfg.PreviewDomain,
			}
			for _, host := range studioHosts {
				secure := matching(t, routes, "websecure", host)
				if len(secure) != 1 {
					t.Errorf("%s: %d routes on websecure, want 1", host, len(secure))
					continue
				}
				if names := tlsNames(t, objects, secure[0]); !slices.ContainsFunc(names, func(n string) bool { return certCovers(n, host) }) {
					t.Errorf("%s: IngressRoute %s's certificate names %q do not cover it", host, secure[0].name, names)
				}
				if plain := matching(t, routes, "web", host); len(plain) != 1 {
					t.Errorf("%s: %d routes on web, want 1 (the redirect)", host, len(plain))
				}
			}
			for _, host := range strangers {
				for _, ep := range []string{"web", "websecure"} {
					if m := matching(t, routes, ep, host); len(m) > 0 {
						t.Errorf("%s is routed on %s by IngressRoute %s; studio does not answer to it", host, ep, m[0].name)
					}
				}
			}

			// Streams (event streams, preview websockets) must not wait on
			// a limit for the response's headers.
			for _, o := range objects {
				if o.GetKind() != "ServersTransport" {
					continue
				}
				if v, ok, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "forwardingTimeouts", "responseHeaderTimeout"); ok && fmt.Sprint(v) != "0s" && fmt.Sprint(v) != "0" {
					t.Errorf("ServersTransport %s: responseHeaderTimeout %v, want none", o.GetName(), v)
				}
			}
		})
	}
}

// route is one rule of an IngressRoute.
type route struct {
	name, namespace string
	entryPoints     []string
	match           string
	services        []routeService
	middlewares     []ref
	tls             map[string]any // the IngressRoute's, nil without TLS
}

type routeService struct {
	kind, name, namespace, serversTransport string
	port                                    any
	passHostHeader, sticky                  bool
}

type ref struct{ name, namespace string }

// ingressRoutes flattens every rendered IngressRoute into its rules.
func ingressRoutes(t *testing.T, objects []*unstructured.Unstructured) []route {
	t.Helper()
	var routes []route
	for _, o := range objects {
		if o.GetKind() != "IngressRoute" {
			continue
		}
		entryPoints, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "entryPoints")
		if len(entryPoints) == 0 {
			t.Errorf("IngressRoute %s names no entry point: it would be on every default one", o.GetName())
		}
		tls, _, _ := unstructured.NestedMap(o.Object, "spec", "tls")
		rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "routes")
		for _, x := range rules {
			m := x.(map[string]any)
			r := route{name: o.GetName(), namespace: o.GetNamespace(), entryPoints: entryPoints, tls: tls}
			r.match, _ = m["match"].(string)
			services, _ := m["services"].([]any)
			for _, y := range services {
				s := y.(map[string]any)
				rs := routeService{port: s["port"], passHostHeader: true}
				rs.kind, _ = s["kind"].(string)
				rs.name, _ = s["name"].(string)
				rs.namespace, _ = s["namespace"].(string)
				rs.serversTransport, _ = s["serversTransport"].(string)
				if v, ok := s["passHostHeader"].(bool); ok {
					rs.passHostHeader = v
				}
				_, rs.sticky = s["sticky"]
				r.services = append(r.services, rs)
			}
			if len(r.services) == 0 {
				t.Errorf("IngressRoute %s: route %q has no service", r.name, r.match)
			}
			middlewares, _ := m["middlewares"].([]any)
			for _, y := range middlewares {
				mw := y.(map[string]any)
				name, _ := mw["name"].(string)
				namespace, _ := mw["namespace"].(string)
				r.middlewares = append(r.middlewares, ref{name, namespace})
			}
			routes = append(routes, r)
		}
	}
	return routes
}

// matching returns the routes on that entry point whose rule matches host.
func matching(t *testing.T, routes []route, entryPoint, host string) []route {
	t.Helper()
	var out []route
	for _, r := range routes {
		if slices.Contains(r.entryPoints, entryPoint) && ruleMatches(t, r.match, host) {
			out = append(out, r)
		}
	}
	return out
}

// matcher is one Host(`…`) or HostRegexp(`…`) of a rule.
var matcher = regexp.MustCompile("^\\s*(Host|HostRegexp)\\(`([^`]*)`\\)\\s*")

// ruleMatches evaluates a Traefik v3 rule made of Host and HostRegexp
// matchers joined by ||, the only shapes studio's routes use, on a request
// for host. Traefik matches the host in lower case; HostRegexp takes a Go
// regular expression. Any other rule fails the test rather than guess.
func ruleMatches(t *testing.T, rule, host string) bool {
	t.Helper()
	host = strings.ToLower(host)
	rest, matched := rule, false
	for {
		m := matcher.FindStringSubmatch(rest)
		if m == nil {
			t.Fatalf("rule %q: not a Host or HostRegexp matcher at %q", rule, rest)
		}
		switch m[1] {
		case "Host":
			if strings.Contains(m[2], "*") {
				t.Fatalf("rule %q: Host with a wildcard needs Traefik 3.7; use HostRegexp", rule)
			}
			matched = matched || strings.ToLower(m[2]) == host
		case "HostRegexp":
			re, err := regexp.Compile(m[2])
			if err != nil {
				t.Fatalf("rule %q: %v", rule, err)
			}
			matched = matched || re.MatchString(host)
		}
		rest = rest[len(m[0]):]
		if rest == "" {
			return matched
		}
		if !strings.HasPrefix(rest, "||") {
			t.Fatalf("rule %q: only || joins matchers here, not %q", rule, rest)
		}
		rest = rest[2:]
	}
}

// tlsNames are the host names of the certificate a route serves: the
// dnsNames of the cert-manager Certificate that issues its Secret, or the
// domains it asks Traefik's certificate resolver for.
func tlsNames(t *testing.T, objects []*unstructured.Unstructured, r route) []string {
	t.Helper()
	if r.tls == nil {
		t.Errorf("IngressRoute %s has no TLS", r.name)
		return nil
	}
	if secret, _ := r.tls["secretName"].(string); secret != "" {
		for _, o := range objects {
			if o.GetKind() != "Certificate" || o.GetNamespace() != r.namespace {
				continue
			}
			if s, _, _ := unstructured.NestedString(o.Object, "spec", "secretName"); s != secret {
				continue
			}
			checkIssuer(t, objects, o)
			names, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "dnsNames")
			return names
		}
		t.Errorf("IngressRoute %s serves Secret %s, which no Certificate issues", r.name, secret)
		return nil
	}
	if resolver, _ := r.tls["certResolver"].(string); resolver == "" {
		t.Errorf("IngressRoute %s: TLS with neither a Secret nor a certificate resolver", r.name)
		return nil
	}
	var names []string
	domains, _ := r.tls["domains"].([]any)
	for _, d := range domains {
		m := d.(map[string]any)
		if main, _ := m["main"].(string); main != "" {
			names = append(names, main)
		}
		sans, _ := m["sans"].([]any)
		for _, s := range sans {
			names = append(names, s.(string))
		}
	}
	return names
}

// checkIssuer fails unless the Certificate's issuer is rendered too and
// answers ACME challenges with DNS-01, the only one a wildcard passes.
func checkIssuer(t *testing.T, objects []*unstructured.Unstructured, cert *unstructured.Unstructured) {
	t.Helper()
	kind, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "kind")
	name, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
	issuer := find(t, objects, kind, name)
	solvers, _, _ := unstructured.NestedSlice(issuer.Object, "spec", "acme", "solvers")
	if len(solvers) == 0 {
		t.Errorf("%s %s has no ACME solvers", kind, name)
	}
	for _, s := range solvers {
		if _, ok := s.(map[string]any)["dns01"]; !ok {
			t.Errorf("%s %s: a solver without dns01 cannot issue a wildcard", kind, name)
		}
	}
}

// certCovers reports whether a certificate name covers host: the same
// name, or a wildcard for exactly one label in its place.
func certCovers(name, host string) bool {
	name, host = strings.ToLower(name), strings.ToLower(host)
	if suffix, ok := strings.CutPrefix(name, "*."); ok {
		label, rest, found := strings.Cut(host, ".")
		return found && label != "" && rest == suffix
	}
	return name == host
}

// servicePort reports whether an IngressRoute's port (a number or a name)
// is one of the Service's.
func servicePort(svc *corev1.Service, port any) bool {
	for _, p := range svc.Spec.Ports {
		switch v := port.(type) {
		case string:
			if v == p.Name {
				return true
			}
		case int64:
			if v == int64(p.Port) {
				return true
			}
		case float64:
			if v == float64(p.Port) {
				return true
			}
		}
	}
	return false
}
