package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// A client that sends its request a byte at a time (slow loris) is cut off
// once the headers' or the whole request's time is up, and never reaches a
// handler with its request.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	timeouts := serverTimeouts{readHeader: 300 * time.Millisecond, read: 600 * time.Millisecond, idle: time.Second}
	for _, tc := range []struct {
		name    string
		fast    string // sent at once
		trickle string // sent a byte every 50 ms
	}{
		{"headers", "", "GET / HTTP/1.1\r\nHost: studio.test\r\nX-Slow: " + strings.Repeat("a", 200) + "\r\n\r\n"},
		{"body", "POST / HTTP/1.1\r\nHost: studio.test\r\nContent-Length: 200\r\n\r\n", strings.Repeat("b", 200)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			handled := make(chan error, 1)
			addr := serveOnLoopback(t, newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, err := io.ReadAll(r.Body)
				handled <- err
			}), timeouts))
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			if _, err := io.WriteString(conn, tc.fast); err != nil {
				t.Fatal(err)
			}
			go trickle(conn, tc.trickle)

			// The server closes the connection long before the trickle ends.
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAll(conn); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the server still holds a slow client after %s", time.Since(start))
			}
			select {
			case err := <-handled:
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("a handler read the trickled request: %v", err)
				}
			default:
				if tc.fast != "" {
					t.Fatal("the handler of a request with a slow body did not see it cut off")
				}
			}
		})
	}
}

// A request that lives on without a body (an event stream, a websocket) is
// not cut off when the body's time would be up.
func TestLongRequestsOutliveTheBodyDeadline(t *testing.T) {
	t.Parallel()
	timeouts := serverTimeouts{readHeader: 300 * time.Millisecond, read: 300 * time.Millisecond, idle: time.Second}
	addr := serveOnLoopback(t, newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			io.WriteString(w, "cancelled")
		case <-time.After(time.Second):
			io.WriteString(w, "still here")
		}
	}), timeouts))
	res, err := http.Get("http://" + addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if body, _ := io.ReadAll(res.Body); string(body) != "still here" {
		t.Fatalf("a long request: %q", body)
	}
}

func trickle(conn net.Conn, text string) {
	for i := range len(text) {
		if _, err := conn.Write([]byte{text[i]}); err != nil {
			return // cut off
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func serveOnLoopback(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}
