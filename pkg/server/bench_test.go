//go:build cgo

package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"runtime"
	"testing"

	"github.com/facectl/facectl/internal/testenv"

	"github.com/facectl/facectl/pkg/face"
)

// BenchmarkThroughput compares the detection engine's own throughput with the same engine
// behind the HTTP server, with the same workers (usable cores) and 8 concurrent callers, on
// the same photo in the same run: the HTTP layer should cost almost nothing. Read req/s.
//
//	go test -run '^$' -bench Throughput -benchtime 5s -count 3 ./pkg/server
func BenchmarkThroughput(b *testing.B) {
	const concurrency = 8
	workers := runtime.GOMAXPROCS(0)
	for _, det := range []string{"yunet", "lbp"} {
		for _, name := range []string{"gocv_face.jpg", "group_10.jpg"} {
			data := testenv.ReadPhoto(b, name)
			b.Run("engine/"+det+"/"+name, func(b *testing.B) {
				e := realEngine(b, det, workers)
				ctx := context.Background()
				b.SetParallelism(max(1, concurrency/workers))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := e.Detect(ctx, data, face.Filter{}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
			b.Run("http/"+det+"/"+name, func(b *testing.B) {
				cfg := testConfig()
				cfg.QueueSize = 256
				s, err := New(cfg, map[string]Engine{det: realEngine(b, det, workers)}, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				r := start(b, s)
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
				url := r.url + "/api/v1/detect"
				b.SetParallelism(max(1, concurrency/workers))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						resp, err := client.Post(url, "image/jpeg", bytes.NewReader(data))
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
		}
	}
}
