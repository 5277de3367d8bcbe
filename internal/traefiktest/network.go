package traefiktest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
)

// Network creates a bridge network for the test, named with prefix and a
// random suffix, and removes it when the test ends (after the cleanups
// registered later, so containers on it go first).
func Network(t testing.TB, prefix string) string {
	t.Helper()
	cli := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := prefix + randomHex(4)
	if _, err := cli.NetworkCreate(ctx, name, network.CreateOptions{
		Driver: "bridge",
		Labels: map[string]string{managedLabel: "network"},
	}); err != nil {
		t.Fatalf("create network %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cli.NetworkRemove(ctx, name); err != nil {
			t.Errorf("remove network %s: %v", name, err)
		}
	})
	return name
}

// Gateway returns the host's own address on a Docker bridge network (its
// IPAM gateway). A server the test listens on there is reachable from the
// containers on that network, Traefik included: serve an auth endpoint or
// studio itself on it.
func Gateway(t testing.TB, networkName string) string {
	t.Helper()
	cli := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := cli.NetworkInspect(ctx, networkName, network.InspectOptions{})
	if err != nil {
		t.Fatalf("inspect network %s: %v", networkName, err)
	}
	for _, c := range n.IPAM.Config {
		if ip := net.ParseIP(c.Gateway); ip != nil && ip.To4() != nil {
			return c.Gateway
		}
	}
	t.Fatalf("network %s has no IPv4 gateway", networkName)
	return ""
}

// Listen listens on a free port of the host's address on a network, for a
// server that containers on it reach (see Gateway).
func Listen(t testing.TB, networkName string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(Gateway(t, networkName), "0"))
	if err != nil {
		t.Fatalf("listen on the gateway of %s: %v", networkName, err)
	}
	return l
}
