package config

import (
	"io"
	"net"
	"strings"
	"testing"
)

func TestTrustedProxies(t *testing.T) {
	c, err := Load("serve", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxies) != 0 {
		t.Fatalf("by default no proxy is trusted: %v", c.TrustedProxies)
	}
	c, err = Load("serve", nil, env(map[string]string{"STUDIO_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7,2001:db8::/32"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range c.TrustedProxies {
		got = append(got, n.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 192.0.2.7/32 2001:db8::/32" {
		t.Fatalf("ranges: %v", got)
	}
	if !c.TrustedProxies[1].Contains(net.ParseIP("192.0.2.7")) || c.TrustedProxies[1].Contains(net.ParseIP("192.0.2.8")) {
		t.Fatal("a bare address must trust only itself")
	}
	_, err = Load("serve", nil, env(map[string]string{"STUDIO_TRUSTED_PROXIES": "10.0.0.0/8,not-a-range"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), `STUDIO_TRUSTED_PROXIES: "not-a-range" is not`) {
		t.Fatalf("bad range: %v", err)
	}
}
