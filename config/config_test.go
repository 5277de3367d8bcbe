package config

import (
	"io"
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
	if c.Addr != "127.0.0.1:8080" || c.Domain != "studio.localhost" || c.IdleTimeout != 30*time.Minute || c.MaxBody != 8<<20 || !c.EmbeddedDatabase() {
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
		{map[string]string{"STUDIO_SIGNUP": "maybe"}, "STUDIO_SIGNUP:"},
		{map[string]string{"STUDIO_IDLE_TIMEOUT": "soon"}, `STUDIO_IDLE_TIMEOUT: "soon" is not a duration`},
		{map[string]string{"STUDIO_IDLE_TIMEOUT": "-1m"}, "STUDIO_IDLE_TIMEOUT: must not be negative"},
		{map[string]string{"STUDIO_MAX_BODY": "lots"}, `STUDIO_MAX_BODY: "lots" is not a size`},
		{map[string]string{"STUDIO_MAX_BODY": "10B"}, "STUDIO_MAX_BODY: must be at least 1KiB"},
		{map[string]string{"STUDIO_LOG_LEVEL": "loud"}, "STUDIO_LOG_LEVEL:"},
		{map[string]string{"STUDIO_BASE_URL": "studio.example.com"}, "STUDIO_BASE_URL: must start with http://"},
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
