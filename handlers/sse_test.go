package handlers

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// A client that stops reading fills the connection's buffers; the stream's
// next write then misses its deadline and the handler returns instead of
// holding its goroutine for ever.
func TestSSEStreamEndsWhenTheClientStopsReading(t *testing.T) {
	t.Parallel()
	ended := make(chan error, 1)
	e := echo.New()
	e.GET("/stream", func(c echo.Context) error {
		w := openSSE(c, func() {})
		defer w.close()
		w.timeout = 300 * time.Millisecond
		chunk := strings.Repeat("x", 32<<10)
		for id := int64(1); ; id++ {
			if err := w.html(id, "fill", chunk); err != nil {
				ended <- err
				return nil
			}
		}
	})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	conn := dialWithTinyReceiveBuffer(t, srv.Listener.Addr().String())
	if _, err := conn.Write([]byte("GET /stream HTTP/1.1\r\nHost: studio.test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// The client never reads.
	select {
	case err := <-ended:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the stream ended with %v, want a missed write deadline", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stream handler is still writing to a client that stopped reading")
	}
}

// A response that does not stream has a minute to reach the client once it
// starts; a client that stops reading does not hold its handler longer.
func TestResponseEndsWhenTheClientStopsReading(t *testing.T) {
	t.Parallel()
	ended := make(chan error, 1)
	e := echo.New()
	e.Use(writeDeadline(300 * time.Millisecond))
	e.GET("/big", func(c echo.Context) error {
		chunk := []byte(strings.Repeat("x", 32<<10))
		c.Response().WriteHeader(http.StatusOK)
		for {
			if _, err := c.Response().Write(chunk); err != nil {
				ended <- err
				return nil
			}
		}
	})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	conn := dialWithTinyReceiveBuffer(t, srv.Listener.Addr().String())
	if _, err := conn.Write([]byte("GET /big HTTP/1.1\r\nHost: studio.test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the response ended with %v, want a missed write deadline", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the handler is still writing to a client that stopped reading")
	}
}

// dialWithTinyReceiveBuffer connects over loopback with a receive buffer of
// a few KiB, set before the connection is made so the window stays small.
func dialWithTinyReceiveBuffer(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var sockErr error
		err := rc.Control(func(fd uintptr) {
			sockErr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, sockErr)
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
