package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeResolver answers from a table and fails for any other name, so a test
// never asks a real DNS server.
type fakeResolver map[string][]string

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ips, ok := r[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		out[i] = netip.MustParseAddr(ip)
	}
	return out, nil
}

// countingDialer is a Dialer whose connect attempts that passed every check
// are counted: a refused address must leave the count at zero.
func countingDialer(t *testing.T, allow string, names fakeResolver) (*Dialer, *atomic.Int32) {
	t.Helper()
	list, err := ParseAllowList(allow)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDialer(list)
	d.Resolver = names
	var connects atomic.Int32
	d.connecting = func(netip.AddrPort) { connects.Add(1) }
	return d, &connects
}

func TestDialRefusesInternalAddressesBeforeConnecting(t *testing.T) {
	names := fakeResolver{
		"rebound.example":  {"127.0.0.1"},
		"metadata.example": {"169.254.169.254"},
		"mixed.example":    {"93.184.215.14", "10.0.0.7"}, // one public answer does not launder a private one
		"mapped.example":   {"::ffff:192.168.1.1"},
	}
	addrs := []string{
		"127.0.0.1:80", "127.9.9.9:11434", "[::1]:80", "10.1.2.3:80", "172.16.0.1:80", "172.31.255.254:80",
		"192.168.1.1:80", "169.254.169.254:80", "[fd00:ec2::254]:80", "100.64.0.1:80", "[fd00::1]:80",
		"[fc00::1]:80", "[fe80::1]:80", "[fe80::1%25lo]:80", "[::ffff:127.0.0.1]:80", "[::ffff:10.0.0.1]:80",
		"0.0.0.0:80", "[::]:80", "255.255.255.255:80", "224.0.0.1:80", "[ff02::1]:80",
		"[64:ff9b::7f00:1]:80", "[64:ff9b::a00:1]:80", "[2002:7f00:1::]:80", "[::127.0.0.1]:80",
		"2130706433:80", "0177.0.0.1:80", "0x7f.0.0.1:80", "0x7f000001:80", "127.1:80", "017700000001:80",
		"rebound.example:80", "metadata.example:80", "mixed.example:80", "mapped.example:443",
		"localhost:80", // not in the test resolver: refused only if resolved; here it names loopback
	}
	names["localhost"] = []string{"127.0.0.1", "::1"}
	d, connects := countingDialer(t, "", names)
	for _, addr := range addrs {
		t.Run(addr, func(t *testing.T) {
			addr = strings.ReplaceAll(addr, "%25", "%")
			conn, err := d.DialContext(context.Background(), "tcp", addr)
			if err == nil {
				conn.Close()
				t.Fatalf("dialled %s", addr)
			}
			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("error %v is not ErrBlocked", err)
			}
			var blocked *BlockedError
			if !errors.As(err, &blocked) || blocked.Addr == "" {
				t.Fatalf("error %v does not name the address", err)
			}
			if !strings.Contains(err.Error(), "STUDIO_PROVIDER_ALLOW") {
				t.Errorf("error %q does not say how to allow the address", err)
			}
		})
	}
	if n := connects.Load(); n != 0 {
		t.Fatalf("%d connections were attempted", n)
	}
}

// TestConnectTimeCheck covers the last line of defence: whatever the
// resolution step decided, the address the socket is about to connect to is
// checked again, so a name that rebinds between two lookups gains nothing.
func TestConnectTimeCheck(t *testing.T) {
	d, connects := countingDialer(t, "", nil)
	control := d.control(false)
	for _, addr := range []string{"127.0.0.1:80", "[::ffff:127.0.0.1]:80", "169.254.169.254:80", "[fd00::1]:443"} {
		err := control(context.Background(), "tcp", addr, nil)
		if !errors.Is(err, ErrBlocked) {
			t.Errorf("control(%s) = %v, want ErrBlocked", addr, err)
		}
	}
	if n := connects.Load(); n != 0 {
		t.Fatalf("%d connections were let through", n)
	}
	if err := control(context.Background(), "tcp", "93.184.215.14:443", nil); err != nil {
		t.Fatalf("a public address was refused: %v", err)
	}
}

func TestAllowListLetsTheAdministratorsAddressesThrough(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	names := fakeResolver{"gateway.test": {"127.0.0.1"}}
	cases := []struct {
		allow, addr string
		ok          bool
	}{
		{"127.0.0.1", fmt.Sprintf("127.0.0.1:%d", port), true},
		{fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port), true},
		{"127.0.0.0/8", fmt.Sprintf("127.0.0.1:%d", port), true},
		{fmt.Sprintf("gateway.test:%d", port), fmt.Sprintf("gateway.test:%d", port), true},
		{"gateway.test", fmt.Sprintf("gateway.test:%d", port), true},
		{fmt.Sprintf("127.0.0.1:%d", port+1), fmt.Sprintf("127.0.0.1:%d", port), false},
		{"gateway.test:1", fmt.Sprintf("gateway.test:%d", port), false},
		{"10.0.0.0/8", fmt.Sprintf("127.0.0.1:%d", port), false},
		{"gateway.test", fmt.Sprintf("127.0.0.1:%d", port), false}, // a name does not allow its address under another name
	}
	for _, tc := range cases {
		t.Run(tc.allow+"→"+tc.addr, func(t *testing.T) {
			d, connects := countingDialer(t, tc.allow, names)
			conn, err := d.DialContext(context.Background(), "tcp", tc.addr)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				conn.Close()
				return
			}
			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("err = %v, want ErrBlocked", err)
			}
			if connects.Load() != 0 {
				t.Fatal("a connection was attempted")
			}
		})
	}
}

func TestDefaultAllowsOnlyALocalOllama(t *testing.T) {
	list, err := ParseAllowList(DefaultAllow)
	if err != nil {
		t.Fatal(err)
	}
	if !list.allowsAddr(netip.MustParseAddrPort("127.0.0.1:11434")) || !list.allowsName("localhost", "11434") {
		t.Fatal("the default does not allow a local Ollama")
	}
	if list.allowsAddr(netip.MustParseAddrPort("127.0.0.1:2375")) || list.allowsName("localhost", "8080") {
		t.Fatal("the default allows more than Ollama's port")
	}
}

func TestParseAllowListRejectsNonsense(t *testing.T) {
	for _, spec := range []string{"http://127.0.0.1", "10.0.0.0/33", "host:port", "127.0.0.1:99999", "[::1", "a b"} {
		if _, err := ParseAllowList(spec); err == nil {
			t.Errorf("ParseAllowList(%q) accepted it", spec)
		}
	}
	if _, err := ParseAllowList(" 192.168.1.20:4000 , gateway.lan, 10.0.0.0/8,[fd00::5]:8000 ,"); err != nil {
		t.Fatal(err)
	}
}

func TestClientRefusesRedirects(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	list, _ := ParseAllowList("127.0.0.1")
	client := NewClient(NewDialer(list))
	resp, err := client.Post(srv.URL, "application/json", strings.NewReader(`{"secret":1}`))
	if err == nil {
		resp.Body.Close()
		t.Fatal("the redirect was followed")
	}
	if !errors.Is(err, ErrRedirect) {
		t.Fatalf("err = %v, want ErrRedirect", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the POST was replayed to the redirect target")
	}
}

func TestClientIgnoresProxyEnvironment(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://10.9.9.9:3128")
	t.Setenv("HTTPS_PROXY", "http://10.9.9.9:3128")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "direct") }))
	defer srv.Close()
	list, _ := ParseAllowList("127.0.0.1")
	resp, err := NewClient(NewDialer(list)).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "direct" {
		t.Fatalf("body %q", b)
	}
}

func TestCheckSaysWhetherAnAddressWouldBeDialled(t *testing.T) {
	d, connects := countingDialer(t, "192.168.1.20:4000", fakeResolver{"gateway.lan": {"192.168.1.20"}, "api.example": {"93.184.215.14"}})
	for addr, allowed := range map[string]bool{
		"gateway.lan:4000": true, "192.168.1.20:4000": true, "api.example:443": true,
		"gateway.lan:4001": false, "10.0.0.1:80": false, "0x7f.1:80": false,
	} {
		err := d.Check(context.Background(), addr)
		if allowed != (err == nil) || (!allowed && !errors.Is(err, ErrBlocked)) {
			t.Errorf("Check(%s) = %v", addr, err)
		}
	}
	if connects.Load() != 0 {
		t.Fatal("Check connected")
	}
}
