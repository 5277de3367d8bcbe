package handlers

import (
	"context"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"studio/agents"
	pt "studio/agents/providers/providertest"
	"studio/db"
)

// BenchmarkEndlessStream runs agent runs against a fake OpenAI-compatible
// provider that streams without end and without usage, followed by an SSE
// client, with the default caps (1 MiB per turn). Each run must end
// budget_exceeded at the turn cap. It reports the time from the chat
// request to the done event, and the peak of the Go heap while the run
// streamed (runtime.ReadMemStats every 5 ms), in all and above what it was
// before the run, and the peak of the live heap (what the last collection
// found reachable: HeapAlloc also counts garbage not collected yet, so it
// swings with the collector's pacing). The fake provider and the client live in this process:
// the heap is theirs too. "text-8B" streams 8-byte pieces (many small
// events, the event log's worst case), "text-1KiB" 1 KiB pieces, "args-1KiB"
// one tool call whose arguments never end.
func BenchmarkEndlessStream(b *testing.B) {
	b.Run("text-8B", func(b *testing.B) { benchEndless(b, pt.Forever(strings.Repeat("x", 7)+" ")) })
	b.Run("text-1KiB", func(b *testing.B) { benchEndless(b, pt.Forever(strings.Repeat("x", 1023)+" ")) })
	b.Run("args-1KiB", func(b *testing.B) { benchEndless(b, pt.ForeverArgs(strings.Repeat("x", 1024))) })
}

func benchEndless(b *testing.B, turn pt.Turn) {
	env := benchEnv(b)
	fake := pt.New("openai")
	b.Cleanup(fake.Close)
	token, user := env.benchUser("endless@example.com", fake)
	projects := env.benchProjects(user, b.N)
	fake.Respond(func(pt.Request, int) pt.Turn { return turn })
	client := &http.Client{Transport: &http.Transport{}}
	b.Cleanup(client.CloseIdleConnections)

	var peak, growth, live uint64
	var toCap time.Duration
	b.ResetTimer()
	for n := range b.N {
		runtime.GC()
		base := heapNow()
		sampled := make(chan [2]uint64)
		stop := make(chan struct{})
		go func() { sampled <- sampleHeapPeak(stop) }()
		start := time.Now()
		run := env.chat(token, projects[n].String(), map[string]any{"message": "Talk", "model": "openai/gpt-4o-mini"})
		var status db.RunStatus
		err := followRun(context.Background(), client, env.http.URL, token, run, func(kind string, data []byte) {
			if kind == agents.KindDone {
				status = doneStatus(data)
			}
		})
		toCap += time.Since(start)
		close(stop)
		s := <-sampled
		p := s[0]
		live = max(live, s[1])
		if err != nil || status != db.RunStatusBudgetExceeded {
			b.Fatalf("run %d: %v, ended %q", n, err, status)
		}
		peak = max(peak, p)
		if p > base {
			growth = max(growth, p-base)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(peak)/1e6, "peak-MB")
	b.ReportMetric(float64(growth)/1e6, "growth-MB")
	b.ReportMetric(float64(live)/1e6, "live-MB")
	b.ReportMetric(ms(toCap)/float64(b.N), "ms-to-cap")
}

func heapNow() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// sampleHeapPeak returns the highest heap and live heap it saw until stop
// closes.
func sampleHeapPeak(stop <-chan struct{}) [2]uint64 {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	liveHeap := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var peak [2]uint64
	sample := func() {
		metrics.Read(liveHeap)
		peak[0] = max(peak[0], heapNow())
		peak[1] = max(peak[1], liveHeap[0].Value.Uint64())
	}
	for {
		sample()
		select {
		case <-stop:
			sample()
			return peak
		case <-t.C:
		}
	}
}
