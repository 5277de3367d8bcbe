package handlers

import (
	"bytes"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"
)

// BenchmarkFilesAPI10KB writes and reads a 10 KB file through the HTTP API
// (loopback, bearer token, owner check, os.Root, atomic write with fsync).
func BenchmarkFilesAPI10KB(b *testing.B) {
	env := newEnv(b)
	tok := env.register("bench@example.com")
	id := env.newProject(tok, "bench")
	content := bytes.Repeat([]byte("0123456789"), 1024)
	url := env.http.URL + "/api/projects/" + id + "/files/src/bench.txt"
	send := func(method string, body []byte) time.Duration {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		res, err := env.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("%s: %d", method, res.StatusCode)
		}
		return time.Since(start)
	}
	var writes, reads []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		writes = append(writes, send("PUT", content))
		reads = append(reads, send("GET", nil))
	}
	b.StopTimer()
	for name, ds := range map[string][]time.Duration{"write": writes, "read": reads} {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(ds[(len(ds)-1)*99/100].Microseconds())/1000, name+"-p99-ms")
	}
}
