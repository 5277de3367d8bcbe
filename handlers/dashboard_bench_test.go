package handlers

import (
	"context"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"
)

// BenchmarkDashboard200 renders the dashboard of a user with 200 projects
// through HTTP (session lookup, one list query, templ render).
func BenchmarkDashboard200(b *testing.B) {
	env := newEnv(b)
	br := env.browser()
	br.signup("many@example.com")
	ctx := context.Background()
	pool := env.pool
	_, err := pool.Exec(ctx, `INSERT INTO projects (owner_id, name, slug, template, status)
		SELECT u.id, 'Project ' || g, 'p-' || g || '-' || substr(md5(random()::text), 1, 6), 'react-vite',
		       (ARRAY['active','stopped','hibernated','error'])[1 + g % 4]
		FROM users u, generate_series(1, 200) g WHERE u.email = 'many@example.com'`)
	if err != nil {
		b.Fatal(err)
	}
	req := func() time.Duration {
		start := time.Now()
		res, err := br.client.Get(env.http.URL + "/")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("dashboard: %d", res.StatusCode)
		}
		return time.Since(start)
	}
	for range 20 {
		req()
	}
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ds = append(ds, req())
	}
	b.StopTimer()
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(ds[(len(ds)-1)*99/100].Microseconds())/1000, "p99-ms")
}
