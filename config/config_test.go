package config

import (
	"io"
	"maps"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load("serve", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.Domain != "studio.localhost" || c.IdleTimeout != 30*time.Minute || c.MaxBody != 8<<20 || !c.EmbeddedDatabase() || c.Marketplace != "instance" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if got := c.PublicURL(); got != "http://studio.localhost:8080" {
		t.Fatalf("PublicURL = %q", got)
	}
}

func TestFlagBeatsEnv(t *testing.T) {
	c, err := Load("serve", []string{"--addr", "127.0.0.1:9000"}, env(map[string]string{"STUDIO_ADDR": "127.0.0.1:7000", "STUDIO_DOMAIN": "dev.example.com"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9000" || c.Domain != "dev.example.com" {
		t.Fatalf("got addr %q domain %q", c.Addr, c.Domain)
	}
}

func TestValidationMessages(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"STUDIO_ADDR": "8080"}, "STUDIO_ADDR: missing port in address"},
		{map[string]string{"STUDIO_ADDR": "127.0.0.1:http"}, `STUDIO_ADDR: port "http" is not a number`},
		{map[string]string{"STUDIO_ADDR": "127.0.0.1:70000"}, "STUDIO_ADDR: port"},
		{map[string]string{"STUDIO_DATABASE_URL": "mysql://x"}, "STUDIO_DATABASE_URL: must start with postgres://"},
		{map[string]string{"STUDIO_DOMAIN": "Bad_Domain"}, "STUDIO_DOMAIN:"},
		{map[string]string{"STUDIO_DOMAIN": ""}, ""}, // empty falls back to the default
		{map[string]string{"STUDIO_SECRET_KEY": "short"}, "STUDIO_SECRET_KEY: must be at least 32 characters"},
		{map[string]string{"STUDIO_RUNTIME": "podman"}, `STUDIO_RUNTIME: "podman" is not one of docker, kubernetes`},
		{map[string]string{"STUDIO_ROUTER": "nginx"}, "STUDIO_ROUTER:"},
		{map[string]string{"STUDIO_ROUTER": "traefik"}, "STUDIO_TRAEFIK_AUTH_URL: must be the http:// address at which Traefik reaches studio's /__studio/forward-auth"},
		{map[string]string{"STUDIO_ROUTER": "traefik", "STUDIO_TRAEFIK_AUTH_URL": "studio:8080"}, "STUDIO_TRAEFIK_AUTH_URL:"},
		{map[string]string{"STUDIO_ROUTER": "traefik", "STUDIO_TRAEFIK_AUTH_URL": "http://studio:8080/"}, "STUDIO_TRAEFIK_AUTH_URL:"},
		{map[string]string{"STUDIO_ROUTER": "traefik", "STUDIO_TRAEFIK_AUTH_URL": "http://studio:8080/__studio/forward-auth", "STUDIO_TRAEFIK_CONTAINER": "traefik"}, "STUDIO_TRUSTED_PROXIES: name the Traefik container's address"},
		{map[string]string{"STUDIO_ROUTER": "traefik", "STUDIO_TRAEFIK_AUTH_URL": "http://studio:8080/__studio/forward-auth", "STUDIO_TRAEFIK_CONTAINER": "traefik", "STUDIO_TRUSTED_PROXIES": "172.30.250.2"}, ""},
		{map[string]string{"STUDIO_ROUTER": "traefik", "STUDIO_TRAEFIK_AUTH_URL": "http://studio:8080/__studio/forward-auth"}, ""},
		{map[string]string{"STUDIO_ROUTER": "traefik", "STUDIO_TRAEFIK_AUTH_URL": "http://s/__studio/forward-auth", "STUDIO_TRAEFIK_ENTRYPOINTS": " , "}, "STUDIO_TRAEFIK_ENTRYPOINTS: name at least one"},
		{map[string]string{"STUDIO_ROUTER": "traefik", "STUDIO_TRAEFIK_AUTH_URL": "http://s/__studio/forward-auth", "STUDIO_TRAEFIK_ENTRYPOINTS": "web,web secure"}, `STUDIO_TRAEFIK_ENTRYPOINTS: "web secure" is not`},
		{map[string]string{"STUDIO_ROUTER": "traefik", "STUDIO_TRAEFIK_AUTH_URL": "http://s/__studio/forward-auth", "STUDIO_TRAEFIK_SERVICE": "studio@docker@x"}, "STUDIO_TRAEFIK_SERVICE:"},
		{map[string]string{"STUDIO_ROUTER": "traefik", "STUDIO_TRAEFIK_AUTH_URL": "http://s/__studio/forward-auth", "STUDIO_TRAEFIK_CONTAINER": "-traefik"}, "STUDIO_TRAEFIK_CONTAINER:"},
		{map[string]string{"STUDIO_ROUTER": "traefik", "STUDIO_TRAEFIK_AUTH_URL": "http://s/__studio/forward-auth", "STUDIO_RUNTIME": "kubernetes"}, "STUDIO_ROUTER: traefik routes previews in docker mode"},
		{map[string]string{"STUDIO_KUBE_NAMESPACE": "Studio_NS"}, `STUDIO_KUBE_NAMESPACE: "Studio_NS" is not a Kubernetes name`},
		{map[string]string{"STUDIO_KUBE_PROJECTS_CLAIM": "-claim"}, `STUDIO_KUBE_PROJECTS_CLAIM: "-claim" is not a Kubernetes name`},
		{map[string]string{"STUDIO_SIGNUP": "maybe"}, "STUDIO_SIGNUP:"},
		{map[string]string{"STUDIO_MARKETPLACE": "public"}, "STUDIO_MARKETPLACE:"},
		{map[string]string{"STUDIO_IDLE_TIMEOUT": "soon"}, `STUDIO_IDLE_TIMEOUT: "soon" is not a duration`},
		{map[string]string{"STUDIO_IDLE_TIMEOUT": "-1m"}, "STUDIO_IDLE_TIMEOUT: must not be negative"},
		{map[string]string{"STUDIO_POOL_SIZE": "react-vite"}, `STUDIO_POOL_SIZE: "react-vite" is not template=count`},
		{map[string]string{"STUDIO_POOL_SIZE": "react-vite=-1"}, `STUDIO_POOL_SIZE: "react-vite=-1" is not template=count`},
		{map[string]string{"STUDIO_POOL_SIZE": "svelte=1"}, `STUDIO_POOL_SIZE: "svelte" is not a template (react-vite, vanilla-vite, static)`},
		{map[string]string{"STUDIO_POOL_SIZE": "static=1,static=2"}, "STUDIO_POOL_SIZE: static is named twice"},
		{map[string]string{"STUDIO_POOL_SIZE": "static=40"}, "STUDIO_POOL_SIZE: 40 slots in all is more than the 32"},
		{map[string]string{"STUDIO_POOL_SIZE": "static=1", "STUDIO_RUNTIME": "kubernetes"}, "STUDIO_POOL_SIZE: the warm pool works in docker mode with the built-in router only"},
		{map[string]string{"STUDIO_PAUSE_AFTER": "soon"}, `STUDIO_PAUSE_AFTER: "soon" is not a duration`},
		{map[string]string{"STUDIO_PAUSE_AFTER": "-1m"}, "STUDIO_PAUSE_AFTER: must be 0 (never) or at least 30s"},
		{map[string]string{"STUDIO_PAUSE_AFTER": "10s"}, "STUDIO_PAUSE_AFTER: must be 0 (never) or at least 30s"},
		{map[string]string{"STUDIO_PAUSE_AFTER": "30m"}, "STUDIO_PAUSE_AFTER: must be less than STUDIO_IDLE_TIMEOUT (30m0s)"},
		{map[string]string{"STUDIO_PAUSE_AFTER": "10m", "STUDIO_IDLE_TIMEOUT": "5m"}, "STUDIO_PAUSE_AFTER: must be less than STUDIO_IDLE_TIMEOUT"},
		{map[string]string{"STUDIO_PAUSE_AFTER": "1m", "STUDIO_RUNTIME": "kubernetes"}, "STUDIO_PAUSE_AFTER: pausing works in docker mode with the built-in router only"},
		{map[string]string{"STUDIO_PAUSE_AFTER": "1m", "STUDIO_ROUTER": "traefik", "STUDIO_TRAEFIK_AUTH_URL": "http://s/__studio/forward-auth"}, "STUDIO_PAUSE_AFTER: pausing works in docker mode with the built-in router only"},
		{map[string]string{"STUDIO_PAUSE_AFTER": "0", "STUDIO_RUNTIME": "kubernetes"}, ""},
		{map[string]string{"STUDIO_MAX_BODY": "lots"}, `STUDIO_MAX_BODY: "lots" is not a size`},
		{map[string]string{"STUDIO_MAX_BODY": "10B"}, "STUDIO_MAX_BODY: must be at least 1KiB"},
		{map[string]string{"STUDIO_LOG_LEVEL": "loud"}, "STUDIO_LOG_LEVEL:"},
		{map[string]string{"STUDIO_BASE_URL": "studio.example.com"}, "STUDIO_BASE_URL: must start with http://"},
		{map[string]string{"STUDIO_GITHUB_URL": "github.example.com"}, "STUDIO_GITHUB_URL: must be GitHub's address"},
		{map[string]string{"STUDIO_GITHUB_URL": "https://github.example.com/api/v3"}, "STUDIO_GITHUB_URL: must be GitHub's address"},
		{map[string]string{"STUDIO_GITHUB_URL": "https://me:pw@github.example.com"}, "STUDIO_GITHUB_URL: must be GitHub's address"},
		{map[string]string{"STUDIO_GITHUB_URL": "http://github.example.com"}, "STUDIO_GITHUB_URL: must be an https:// address"},
		{map[string]string{"STUDIO_GITHUB_URL": "http://10.0.0.5:3000"}, "STUDIO_GITHUB_URL: must be an https:// address"},
		{map[string]string{"STUDIO_GITHUB_URL": "http://127.0.0.1:3000"}, ""},
		{map[string]string{"STUDIO_GITHUB_URL": "http://[::1]:3000"}, ""},
		{map[string]string{"STUDIO_GITHUB_URL": "http://localhost:3000"}, ""},
		{map[string]string{"STUDIO_GITHUB": "maybe"}, "STUDIO_GITHUB: must be on or off"},
		{map[string]string{"STUDIO_GITHUB": "off", "STUDIO_GITHUB_URL": "http://github.example.com", "STUDIO_GITHUB_CLIENT_ID": "Iv1.abc"}, ""},
		{map[string]string{"STUDIO_GITHUB_CLIENT_ID": "Iv1.abc"}, "STUDIO_GITHUB_CLIENT_ID: set both"},
		{map[string]string{"STUDIO_GITHUB_CLIENT_SECRET": "s3cret"}, "STUDIO_GITHUB_CLIENT_ID: set both"},
		{map[string]string{"STUDIO_GITHUB_CLIENT_ID": "Iv1.abc", "STUDIO_GITHUB_CLIENT_SECRET": "s3cret", "STUDIO_GITHUB_URL": "https://github.example.com/"}, ""},
	}
	for _, tc := range cases {
		_, err := Load("serve", nil, env(tc.env), io.Discard)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%v: unexpected error %v", tc.env, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %q", tc.env, err, tc.want)
		}
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	_, err := Load("serve", nil, env(map[string]string{"STUDIO_ADDR": "x", "STUDIO_RUNTIME": "y"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "STUDIO_ADDR") || !strings.Contains(err.Error(), "STUDIO_RUNTIME") {
		t.Fatalf("want both problems reported, got %v", err)
	}
}

func TestUnknownFlagAndArgument(t *testing.T) {
	if _, err := Load("serve", []string{"--nope"}, env(nil), io.Discard); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if _, err := Load("serve", []string{"extra"}, env(nil), io.Discard); err == nil {
		t.Fatal("stray argument accepted")
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{"8MiB": 8 << 20, "512KiB": 512 << 10, "2048": 2048, "1GiB": 1 << 30, "100B": 100} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestHelpNamesEveryVariable(t *testing.T) {
	var b strings.Builder
	Help(&b)
	for _, s := range settings {
		if !strings.Contains(b.String(), s.env) {
			t.Errorf("help lacks %s", s.env)
		}
	}
}

func TestStreamLimits(t *testing.T) {
	c, err := Load("serve", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.AgentMaxTurnBytes != 1<<20 || c.AgentMaxRunBytes != 8<<20 || c.MaxStreamsPerUser != 20 {
		t.Fatalf("defaults: turn %d, run %d, streams %d", c.AgentMaxTurnBytes, c.AgentMaxRunBytes, c.MaxStreamsPerUser)
	}
	c, err = Load("serve", nil, env(map[string]string{"STUDIO_AGENT_MAX_TURN_BYTES": "256KiB", "STUDIO_AGENT_MAX_RUN_BYTES": "2MiB", "STUDIO_MAX_STREAMS_PER_USER": "3"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.AgentMaxTurnBytes != 256<<10 || c.AgentMaxRunBytes != 2<<20 || c.MaxStreamsPerUser != 3 {
		t.Fatalf("set: turn %d, run %d, streams %d", c.AgentMaxTurnBytes, c.AgentMaxRunBytes, c.MaxStreamsPerUser)
	}
	for vars, want := range map[[2]string]string{
		{"STUDIO_AGENT_MAX_TURN_BYTES", "10B"}:   "STUDIO_AGENT_MAX_TURN_BYTES: must be at least 1KiB",
		{"STUDIO_AGENT_MAX_RUN_BYTES", "512KiB"}: "STUDIO_AGENT_MAX_RUN_BYTES: must be at least STUDIO_AGENT_MAX_TURN_BYTES",
		{"STUDIO_MAX_STREAMS_PER_USER", "many"}:  `STUDIO_MAX_STREAMS_PER_USER: "many" is not a whole number`,
		{"STUDIO_AGENT_MAX_RUN_BYTES", "a lot"}:  `STUDIO_AGENT_MAX_RUN_BYTES: "a lot" is not a size`,
	} {
		_, err := Load("serve", nil, env(map[string]string{vars[0]: vars[1]}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%s: error %v, want %q", vars[0], vars[1], err, want)
		}
	}
}

func TestPreviewDomain(t *testing.T) {
	cases := []struct {
		name                    string
		env                     map[string]string
		domain, preview, uiHost string
	}{
		{"defaults to STUDIO_DOMAIN", nil, "studio.localhost", "http://shop.studio.localhost:8080/", "studio.localhost:8080"},
		{"a domain of its own", map[string]string{"STUDIO_PREVIEW_DOMAIN": "studio-preview.localhost"},
			"studio-preview.localhost", "http://shop.studio-preview.localhost:8080/", "studio.localhost:8080"},
		{"production behind https", map[string]string{
			"STUDIO_DOMAIN": "studio.example.com", "STUDIO_BASE_URL": "https://studio.example.com/",
			"STUDIO_PREVIEW_DOMAIN": "example-preview.net",
		}, "example-preview.net", "https://shop.example-preview.net/", "studio.example.com"},
		{"the UI on its own port", map[string]string{
			"STUDIO_BASE_URL": "http://Studio.Example.com:8443", "STUDIO_PREVIEW_DOMAIN": "preview.example.net",
		}, "preview.example.net", "http://shop.preview.example.net:8443/", "studio.example.com:8443"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load("serve", nil, env(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.PreviewDomain; got != tc.domain {
				t.Errorf("preview domain = %q, want %q", got, tc.domain)
			}
			if got := c.PreviewURL("shop"); got != tc.preview {
				t.Errorf("PreviewURL = %q, want %q", got, tc.preview)
			}
			if got := c.UIHost(); got != tc.uiHost {
				t.Errorf("UIHost = %q, want %q", got, tc.uiHost)
			}
		})
	}
	if _, err := Load("serve", nil, env(map[string]string{"STUDIO_PREVIEW_DOMAIN": "Bad_Domain"}), io.Discard); err == nil || !strings.Contains(err.Error(), "STUDIO_PREVIEW_DOMAIN:") {
		t.Fatalf("a bad preview domain: %v", err)
	}
}

func TestProjectDisk(t *testing.T) {
	for value, want := range map[string]int64{"": 2 << 30, "0": 0, "1MiB": 1 << 20, "10GiB": 10 << 30} {
		vars := map[string]string{}
		if value != "" {
			vars["STUDIO_PROJECT_DISK"] = value
		}
		c, err := Load("serve", nil, env(vars), io.Discard)
		if err != nil || c.ProjectDisk != want {
			t.Errorf("STUDIO_PROJECT_DISK=%q: %d, %v; want %d", value, c.ProjectDisk, err, want)
		}
	}
	if _, err := Load("serve", nil, env(map[string]string{"STUDIO_PROJECT_DISK": "a lot"}), io.Discard); err == nil || !strings.Contains(err.Error(), "STUDIO_PROJECT_DISK") {
		t.Errorf("a bad size: %v", err)
	}
}

func TestPoolSizes(t *testing.T) {
	for _, c := range []struct {
		vars map[string]string
		want map[string]int
	}{
		{map[string]string{}, map[string]int{"react-vite": 1}},
		{map[string]string{"STUDIO_POOL_SIZE": "0"}, nil},
		{map[string]string{"STUDIO_POOL_SIZE": " react-vite=2, static = 1 ,vanilla-vite=0"}, map[string]int{"react-vite": 2, "static": 1, "vanilla-vite": 0}},
		{map[string]string{"STUDIO_RUNTIME": "kubernetes"}, nil},
		{map[string]string{"STUDIO_ROUTER": "traefik", "STUDIO_TRAEFIK_AUTH_URL": "http://s/__studio/forward-auth"}, nil},
	} {
		cfg, err := Load("serve", nil, env(c.vars), io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", c.vars, err)
		}
		got, err := cfg.PoolSizes()
		if err != nil || !maps.Equal(got, c.want) {
			t.Errorf("%v: %v %v, want %v", c.vars, got, err, c.want)
		}
	}
}

func TestPauseDelay(t *testing.T) {
	traefik := map[string]string{"STUDIO_ROUTER": "traefik", "STUDIO_TRAEFIK_AUTH_URL": "http://s/__studio/forward-auth"}
	for _, c := range []struct {
		vars map[string]string
		want time.Duration
	}{
		{map[string]string{}, 5 * time.Minute},
		{map[string]string{"STUDIO_PAUSE_AFTER": "0"}, 0},
		{map[string]string{"STUDIO_PAUSE_AFTER": " 90s "}, 90 * time.Second},
		{map[string]string{"STUDIO_PAUSE_AFTER": "30s", "STUDIO_IDLE_TIMEOUT": "1m"}, 30 * time.Second},
		{map[string]string{"STUDIO_PAUSE_AFTER": "2h", "STUDIO_IDLE_TIMEOUT": "0"}, 2 * time.Hour}, // never hibernates
		{map[string]string{"STUDIO_IDLE_TIMEOUT": "6m"}, 5 * time.Minute},
		{map[string]string{"STUDIO_IDLE_TIMEOUT": "5m"}, 0},
		{map[string]string{"STUDIO_IDLE_TIMEOUT": "0"}, 5 * time.Minute}, // never hibernates, still pauses
		{map[string]string{"STUDIO_RUNTIME": "kubernetes"}, 0},
		{traefik, 0},
	} {
		cfg, err := Load("serve", nil, env(c.vars), io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", c.vars, err)
		}
		if got, err := cfg.PauseDelay(); err != nil || got != c.want {
			t.Errorf("%v: %v %v, want %v", c.vars, got, err, c.want)
		}
	}
}

func TestPreviewsShareSiteWithUI(t *testing.T) {
	cases := []struct {
		base, preview string
		same          bool
	}{
		{"", "", true}, // studio.localhost and *.studio.localhost
		{"https://studio.example.com", "", true},
		{"https://studio.example.com", "preview.example.com", true},
		{"https://studio.example.com", "example.com", true},
		{"https://studio.example.co.uk", "preview.example.co.uk", true},
		{"https://studio.example.com", "example-preview.net", false},
		{"https://studio.example.co.uk", "other.co.uk", false},
		{"https://studio.example.com", "example-usercontent.com", false},
	}
	for _, tc := range cases {
		vars := map[string]string{"STUDIO_BASE_URL": tc.base, "STUDIO_PREVIEW_DOMAIN": tc.preview}
		if tc.base != "" {
			vars["STUDIO_DOMAIN"] = strings.TrimPrefix(tc.base, "https://")
		}
		c, err := Load("serve", nil, env(vars), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.PreviewsShareSiteWithUI(); got != tc.same {
			t.Errorf("UI %q, previews %q: same site %v, want %v", c.PublicURL(), c.PreviewDomain, got, tc.same)
		}
	}
}

func TestProviderEndpoints(t *testing.T) {
	c, err := Load("serve", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ProviderAllow != "127.0.0.1:11434,localhost:11434" || len(c.ProviderBaseURLs()) != 0 {
		t.Fatalf("defaults: allow %q, base URLs %v", c.ProviderAllow, c.ProviderBaseURLs())
	}
	c, err = Load("serve", nil, env(map[string]string{
		"STUDIO_PROVIDER_ALLOW":     "192.168.1.20:4000, gateway.lan,10.0.0.0/8",
		"STUDIO_OPENAI_BASE_URL":    "https://gateway.example.com/openai/v1",
		"STUDIO_ANTHROPIC_BASE_URL": "https://gateway.example.com/anthropic",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"openai": "https://gateway.example.com/openai/v1", "anthropic": "https://gateway.example.com/anthropic"}
	if got := c.ProviderBaseURLs(); len(got) != 2 || got["openai"] != want["openai"] || got["anthropic"] != want["anthropic"] {
		t.Fatalf("ProviderBaseURLs = %v", got)
	}
	if allow, err := c.ProviderAllowList(); err != nil || allow == nil {
		t.Fatalf("ProviderAllowList: %v", err)
	}
	if c, err = Load("serve", nil, env(map[string]string{"STUDIO_PROVIDER_ALLOW": "none"}), io.Discard); err != nil || c.ProviderAllow != "" {
		t.Fatalf("none: allow %q, err %v", c.ProviderAllow, err)
	}
	for _, tc := range []struct{ env, value, want string }{
		{"STUDIO_PROVIDER_ALLOW", "http://10.0.0.1", "STUDIO_PROVIDER_ALLOW: \"http://10.0.0.1\""},
		{"STUDIO_PROVIDER_ALLOW", "10.0.0.0/40", "STUDIO_PROVIDER_ALLOW:"},
		{"STUDIO_GEMINI_BASE_URL", "generativelanguage.example", "STUDIO_GEMINI_BASE_URL: must be an http:// or https:// address"},
	} {
		_, err := Load("serve", nil, env(map[string]string{tc.env: tc.value}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: error %v, want it to contain %q", tc.env, tc.value, err, tc.want)
		}
	}
}

func TestMarketplaceURLs(t *testing.T) {
	c, err := Load("serve", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if urls, err := c.MarketplaceURLList(); err != nil || len(urls) != 0 {
		t.Fatalf("default: %v %v", urls, err)
	}
	c, err = Load("serve", nil, env(map[string]string{
		"STUDIO_MARKETPLACE_URLS": " https://studio.example.com/marketplace/catalogue.json , ,http://10.0.0.5:8080/index.json?team=a",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	urls, err := c.MarketplaceURLList()
	if err != nil || len(urls) != 2 || urls[0].String() != "https://studio.example.com/marketplace/catalogue.json" || urls[1].String() != "http://10.0.0.5:8080/index.json?team=a" {
		t.Fatalf("MarketplaceURLList = %v, %v", urls, err)
	}
	for _, tc := range []struct{ value, want string }{
		{"studio.example.com/catalogue.json", `"studio.example.com/catalogue.json" is not an http:// or https:// address`},
		{"ftp://studio.example.com/catalogue.json", "is not an http:// or https:// address"},
		{"/marketplace/catalogue.json", "is not an http:// or https:// address"},
		{"https:///catalogue.json", "is not an http:// or https:// address"},
		{"https://:443/catalogue.json", "is not an http:// or https:// address"},
		{"https://user:secret@studio.example.com/catalogue.json", "has a user name or password"},
		{"https://studio.example.com/catalogue.json#x", "has a #fragment"},
		{"https://a.example/c.json,https://a.example/c.json", "is listed twice"},
		{"https://a.example/%zz", "is not an http:// or https:// address"},
	} {
		_, err := Load("serve", nil, env(map[string]string{"STUDIO_MARKETPLACE_URLS": tc.value}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "STUDIO_MARKETPLACE_URLS: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.value, err, tc.want)
		}
	}
}

func TestGitHubAddresses(t *testing.T) {
	for _, tc := range []struct{ url, web, api string }{
		{"", "https://github.com", "https://api.github.com"},
		{"https://GitHub.com/", "https://GitHub.com", "https://api.github.com"},
		{"https://github.example.com/", "https://github.example.com", "https://github.example.com/api/v3"},
	} {
		c, err := Load("serve", nil, env(map[string]string{"STUDIO_GITHUB_URL": tc.url}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.GitHubWebURL() != tc.web || c.GitHubAPIURL() != tc.api || c.GitHubOAuth() {
			t.Errorf("%q: web %q api %q oauth %v", tc.url, c.GitHubWebURL(), c.GitHubAPIURL(), c.GitHubOAuth())
		}
	}
}
