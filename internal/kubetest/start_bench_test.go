package kubetest

import (
	"testing"
	"time"
)

// BenchmarkStart measures Start until the cluster serves (binaries cached),
// and Stop, and reports the two apart.
func BenchmarkStart(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"control-plane", Options{}},
		{"with-node", Options{Node: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var starting, stopping time.Duration
			for b.Loop() {
				t0 := time.Now()
				c, err := Start(bc.opts)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				c.Stop()
				starting += t1.Sub(t0)
				stopping += time.Since(t1)
			}
			b.ReportMetric(starting.Seconds()/float64(b.N), "start-s/op")
			b.ReportMetric(stopping.Seconds()/float64(b.N), "stop-s/op")
		})
	}
}
