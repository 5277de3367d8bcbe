package proxy_test

import (
	"context"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkProxyLatency compares fetching a dev server's entry module
// through the preview proxy with fetching it from the container's port.
func BenchmarkProxyLatency(b *testing.B) {
	e := newEnv(b)
	p := e.activeProject("react-vite")
	owner := e.browser()
	e.signIn(owner, p, "/")
	direct := &http.Client{}
	ep := "http://127.0.0.1:" + strconv.Itoa(int(p.HostPort)) + "/src/App.tsx"
	proxied := e.host(p.Slug) + "/src/App.tsx"
	fetch := func(c *http.Client, u string) time.Duration {
		start := time.Now()
		res, err := c.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("%s: %d", u, res.StatusCode)
		}
		return time.Since(start)
	}
	for range 50 { // warm both paths (Vite's transform cache, connections)
		fetch(direct, ep)
		fetch(owner, proxied)
	}
	var d, px []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d = append(d, fetch(direct, ep))
		px = append(px, fetch(owner, proxied))
	}
	b.StopTimer()
	b.ReportMetric(ms(pct(d, 50)), "direct-p50-ms")
	b.ReportMetric(ms(pct(d, 99)), "direct-p99-ms")
	b.ReportMetric(ms(pct(px, 50)), "proxy-p50-ms")
	b.ReportMetric(ms(pct(px, 99)), "proxy-p99-ms")
	b.ReportMetric(float64(pct(px, 50))/float64(pct(d, 50)), "p50-ratio")
	b.ReportMetric(throughput(b, direct, ep), "direct-req/s")
	b.ReportMetric(throughput(b, owner, proxied), "proxy-req/s")
}

// throughput is requests per second from 8 concurrent clients over 2 s.
func throughput(b *testing.B, c *http.Client, u string) float64 {
	var n atomic.Int64
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				res, err := c.Get(u)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / 2
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkCreateToPreview is what a user waits for: create a react-vite
// project until its entry module answers 200 through the preview proxy.
func BenchmarkCreateToPreview(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	owner := e.browser()
	var ds []time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p, err := e.svc.Create(ctx, e.owner, "bench", "react-vite")
		if err != nil {
			b.Fatal(err)
		}
		e.signIn(owner, p, "/favicon-none")
		for {
			res, err := owner.Get(e.host(p.Slug) + "/src/main.tsx")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("no preview after a minute: last answer %d", res.StatusCode)
			}
			time.Sleep(20 * time.Millisecond)
		}
		ds = append(ds, time.Since(start))
		b.StopTimer()
		e.svc.Delete(ctx, e.owner, p.ID)
		b.StartTimer()
	}
	b.ReportMetric(ms(pct(ds, 50)), "p50-ms")
	b.ReportMetric(ms(pct(ds, 99)), "p99-ms")
}
