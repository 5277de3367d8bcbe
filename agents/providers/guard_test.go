package providers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"studio/netguard"
)

// localClient reaches the fake servers tests start on 127.0.0.1, and
// nothing else internal.
var localClient = func() *http.Client {
	allow, err := netguard.ParseAllowList("127.0.0.1")
	if err != nil {
		panic(err)
	}
	return netguard.NewClient(netguard.NewDialer(allow))
}()

// local is the option every test provider pointed at a fake needs.
var local = WithHTTPClient(localClient)

// TestDefaultClientRefusesInternalAddresses: a provider built without a
// client of its own goes through the guarded dialer with the default allow
// list, so a base URL on studio's own machine is never dialled.
func TestDefaultClientRefusesInternalAddresses(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	p, err := New(OpenAICompatible, testKey, srv.URL+"/v1", WithRetryPolicy(RetryPolicy{Attempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.ListModels(context.Background())
	if !errors.Is(err, netguard.ErrBlocked) {
		t.Fatalf("err = %v, want netguard.ErrBlocked", err)
	}
	if !strings.Contains(err.Error(), "STUDIO_PROVIDER_ALLOW") || strings.Contains(err.Error(), testKey) {
		t.Errorf("message %q", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the internal server was reached")
	}
}

func TestRedirectIsAnErrorAndNothingIsReplayed(t *testing.T) {
	t.Parallel()
	var stolen atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stolen.Add(1) }))
	defer thief.Close()
	for _, provider := range []string{OpenAI, Anthropic, Gemini} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, thief.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}))
		defer srv.Close()
		p, err := New(provider, testKey, baseURLFor(provider, srv.URL), local, WithRetryPolicy(RetryPolicy{Attempts: 1}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Stream(context.Background(), hello(provider))
		if !errors.Is(err, ErrRedirected) || err.Error() != "the server answered with a redirect" {
			t.Errorf("%s: err = %v, want ErrRedirected", provider, err)
		}
	}
	if stolen.Load() != 0 {
		t.Fatal("a request followed the redirect")
	}
}

func TestCheckConnectionSaysOnlyACategory(t *testing.T) {
	t.Parallel()
	handler := func(f http.HandlerFunc) string {
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		return srv.URL + "/v1"
	}
	const secret = "internal-detail-7731"
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	cases := []struct {
		name, baseURL, want string
	}{
		{"works", handler(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"object":"list","data":[{"id":"m1","object":"model"},{"id":"m2","object":"model"}]}`)
		}), "connected (2 models)"},
		{"401", handler(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":{"message":"bad key `+secret+`"}}`, http.StatusUnauthorized)
		}), "the key was rejected by openai_compatible"},
		{"html", handler(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "<html><body>"+secret+"</body></html>")
		}), "this is not an OpenAI-compatible server"},
		{"404", handler(func(w http.ResponseWriter, r *http.Request) { http.Error(w, secret, http.StatusNotFound) }),
			"this is not an OpenAI-compatible server"},
		{"500", handler(func(w http.ResponseWriter, r *http.Request) { http.Error(w, secret, http.StatusBadGateway) }),
			"the server answered 502 Bad Gateway"},
		{"429", handler(func(w http.ResponseWriter, r *http.Request) { http.Error(w, secret, http.StatusTooManyRequests) }),
			"the server answered 429 Too Many Requests"},
		{"redirect", handler(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://169.254.169.254/"+secret, http.StatusTemporaryRedirect)
		}), "the server answered with a redirect"},
		{"hang", handler(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }), "timed out"},
		{"closed", "http://" + closedAddr + "/v1", "could not connect to " + closedAddr},
		{"blocked", "http://10.11.12.13:4000/v1", "this address is not allowed (ask the administrator to add it to STUDIO_PROVIDER_ALLOW)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := New(OpenAICompatible, testKey, tc.baseURL, local)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			if got := p.CheckConnection(ctx); got != tc.want {
				t.Errorf("CheckConnection = %q, want %q", got, tc.want)
			}
		})
	}
}
