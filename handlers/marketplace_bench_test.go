package handlers

import (
	"context"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"
)

// BenchmarkMarketplaceSearch10K searches a catalogue of 10,000 agents
// (100 owners, most published to the instance, some-1 KB prompts) through
// GET /api/marketplace/items: token check, the full-text query with its
// visibility rule, JSON. The searches cycle through a word, two words, a
// tag filter and an empty query, each with a different sort.
func BenchmarkMarketplaceSearch10K(b *testing.B) {
	env := newEnv(b)
	token := env.register("searcher@example.com")
	ctx := context.Background()
	_, err := env.pool.Exec(ctx, `
		INSERT INTO users (email, password_hash) SELECT 'owner' || g || '@example.com', 'x' FROM generate_series(1, 100) g;
		WITH words AS (SELECT ARRAY['react','review','test','css','refactor','docs','security','vite','python','sql',
		                             'accessibility','performance','haiku','lint','deploy','typescript','api','design','bug','migrate'] AS w)
		INSERT INTO marketplace_items (id, kind, owner_id, visibility, name, description, tags, readme, install_count, rating_count, rating_sum, created_at)
		SELECT 'bench-' || g, 'agent', (SELECT id FROM users WHERE email = 'owner' || (1 + g % 100) || '@example.com'),
		       CASE WHEN g % 10 = 0 THEN 'private' ELSE 'instance' END,
		       initcap(w[1 + g % 20]) || ' ' || w[1 + (g / 20) % 20] || ' helper ' || g,
		       'Helps with ' || w[1 + g % 20] || ' and ' || w[1 + (g / 7) % 20] || ' in your project.',
		       ARRAY[w[1 + g % 20], w[1 + (g / 3) % 20]],
		       repeat('You are an expert in ' || w[1 + (g / 11) % 20] || ' and ' || w[1 + (g / 13) % 20] || '. ', 20),
		       g % 997, g % 7, (g % 7) * (1 + g % 5), now() - g * interval '1 minute'
		FROM words, generate_series(1, 10000) g;
		ANALYZE marketplace_items;`)
	if err != nil {
		b.Fatal(err)
	}
	queries := []string{
		"q=review&sort=relevance",
		"q=react+performance&sort=installs",
		"tag=security&sort=rating",
		"sort=newest",
		"q=haiku&kind=agent&sort=newest",
		"q=%22expert+in+sql%22",
	}
	req := func(i int) time.Duration {
		start := time.Now()
		r, _ := http.NewRequest("GET", env.http.URL+"/api/marketplace/items?"+queries[i%len(queries)], nil)
		r.Header.Set("Authorization", "Bearer "+token)
		res, err := env.client.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("search %s: %d", queries[i%len(queries)], res.StatusCode)
		}
		return time.Since(start)
	}
	for i := range 30 {
		req(i)
	}
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ds = append(ds, req(i))
	}
	b.StopTimer()
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(ds[(len(ds)-1)*99/100].Microseconds())/1000, "p99-ms")
}
