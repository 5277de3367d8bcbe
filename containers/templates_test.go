package containers

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The preview proxy forwards requests for a project's own host name; the dev
// server must answer them and keep HMR on that host and port.
const proxyHost = "myapp.studio.localhost:8080"

func TestTemplatesServeThroughLoopback(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{})
	tests := []struct {
		template string
		entry    string // the page's entry module
		page     string // in the served page
		reload   func(t *testing.T, endpoint, dir string)
	}{
		{"react-vite", "/src/main.tsx", `<div id="root">`, checkViteHMR("src/App.tsx")},
		{"vanilla-vite", "/src/main.js", `<div id="app">`, checkViteHMR("src/main.js")},
		{"static", "/script.js", "<h1>Hello from a static site</h1>", checkLiveReload},
	}
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			t.Parallel()
			_, dir, endpoint := startProject(t, d, tt.template, tt.entry)

			status, _, body := get(t, "http://"+endpoint+"/", proxyHost)
			if status != http.StatusOK || !strings.Contains(body, tt.page) {
				t.Fatalf("GET / via %s: %d\n%s", proxyHost, status, body)
			}
			status, contentType, body := get(t, "http://"+endpoint+tt.entry, proxyHost)
			if status != http.StatusOK || !strings.Contains(contentType, "javascript") {
				t.Fatalf("GET %s: %d %s\n%s", tt.entry, status, contentType, body)
			}
			tt.reload(t, endpoint, dir)
		})
	}
}

// checkViteHMR opens Vite's HMR socket the way a browser on the proxy's host
// would, edits file and expects Vite to push an update for it.
func checkViteHMR(file string) func(t *testing.T, endpoint, dir string) {
	return func(t *testing.T, endpoint, dir string) {
		_, _, client := get(t, "http://"+endpoint+"/@vite/client", proxyHost)
		if !strings.Contains(client, "const hmrPort = null;") {
			t.Error("the Vite client pins an HMR port; it must follow the page's port")
		}
		token := regexp.MustCompile(`const wsToken = "([^"]+)"`).FindStringSubmatch(client)
		if token == nil {
			t.Fatal("no HMR token in /@vite/client")
		}
		// Vite only pushes updates for modules a page has loaded.
		if status, _, _ := get(t, "http://"+endpoint+"/"+file, proxyHost); status != http.StatusOK {
			t.Fatalf("GET /%s: %d", file, status)
		}

		ws := dialWebSocket(t, endpoint, "/?token="+token[1], "vite-hmr")
		if msg := ws.read(t); !strings.Contains(msg, `"connected"`) {
			t.Fatalf("first HMR message %q", msg)
		}
		touch(t, filepath.Join(dir, file), "\n// edited\n")
		for {
			msg := ws.read(t)
			if strings.Contains(msg, `"update"`) && strings.Contains(msg, "/"+file) {
				return
			}
			if strings.Contains(msg, `"full-reload"`) {
				return
			}
		}
	}
}

// checkLiveReload subscribes to the static server's reload events and edits
// a stylesheet, which swaps styles without a reload.
func checkLiveReload(t *testing.T, endpoint, dir string) {
	req, _ := http.NewRequestWithContext(testContext(t), http.MethodGet, "http://"+endpoint+"/__studio/events", nil)
	req.Host = proxyHost
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewScanner(resp.Body)
	waitFor := func(line string) {
		t.Helper()
		for events.Scan() {
			if events.Text() == line {
				return
			}
		}
		t.Fatalf("no %q from the live-reload stream: %v", line, events.Err())
	}
	waitFor("event: hello")
	touch(t, filepath.Join(dir, "style.css"), "\nh1 { color: teal; }\n")
	waitFor("event: css")
}

func touch(t *testing.T, path, appended string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(appended); err != nil {
		t.Fatal(err)
	}
}

// webSocket is just enough of a client to read the server's text frames.
type webSocket struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialWebSocket(t *testing.T, endpoint, path, protocol string) *webSocket {
	t.Helper()
	conn, err := net.DialTimeout("tcp", endpoint, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nOrigin: http://%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
		path, proxyHost, proxyHost, base64.StdEncoding.EncodeToString(key), protocol)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("websocket upgrade via %s: %s", proxyHost, resp.Status)
	}
	return &webSocket{conn: conn, r: r}
}

// read returns the next text message, waiting at most 20 s.
func (ws *webSocket) read(t *testing.T) string {
	t.Helper()
	ws.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var head [2]byte
		if _, err := io.ReadFull(ws.r, head[:]); err != nil {
			t.Fatalf("read websocket frame: %v", err)
		}
		size := uint64(head[1] & 0x7f)
		switch size {
		case 126:
			var ext [2]byte
			io.ReadFull(ws.r, ext[:])
			size = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			io.ReadFull(ws.r, ext[:])
			size = binary.BigEndian.Uint64(ext[:])
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(ws.r, payload); err != nil {
			t.Fatalf("read websocket payload: %v", err)
		}
		switch opcode := head[0] & 0x0f; opcode {
		case 1: // text
			return string(payload)
		case 8:
			t.Fatalf("websocket closed: %q", payload)
		}
	}
}
