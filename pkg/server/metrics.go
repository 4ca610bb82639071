package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus collectors, registered on the registry given to New
// (never the global one, so tests and embedders can run several servers in one process).
type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	queueWait    prometheus.Histogram
	queueDepth   prometheus.Gauge
	rejections   *prometheus.CounterVec
	busy         prometheus.Gauge
	workers      prometheus.Gauge
	detection    *prometheus.HistogramVec
	faces        *prometheus.CounterVec
	facesPerImg  prometheus.Histogram
	ready        prometheus.Gauge
	conns        *prometheus.GaugeVec
	connLimit    *prometheus.GaugeVec
	connsEvicted *prometheus.CounterVec
	lingered     *prometheus.CounterVec
	decodeBytes  prometheus.Gauge
}

// latencyBuckets span a fast single-face detection (a few ms) to a queue wait plus a
// 12 MP decode under load (tens of seconds).
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// newRegistry returns a registry with the Go runtime and process collectors, which report
// the heap and the resident memory (native OpenCV memory included).
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facectl_http_requests_total",
			Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "facectl_http_request_duration_seconds",
			Help:    "Time from the request headers to the end of the response, by route.",
			Buckets: latencyBuckets,
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "facectl_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "facectl_queue_wait_seconds",
			Help:    "Time admitted requests waited for a detection worker.",
			Buckets: latencyBuckets,
		}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "facectl_queue_depth",
			Help: "Requests waiting for a detection worker.",
		}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facectl_queue_rejections_total",
			Help: "Requests refused or dropped before detection: queue_full (429); 503 after queue_wait because no worker became free (queue_timeout), the memory for request bodies stayed full (upload_memory_timeout) or the memory for decoding stayed full (decode_memory_timeout); client_gone; deadline; shutdown (503 when the grace period ran out).",
		}, []string{"reason"}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "facectl_workers_busy",
			Help: "Detection workers in use.",
		}),
		workers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "facectl_workers",
			Help: "Detection workers configured.",
		}),
		detection: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "facectl_detection_duration_seconds",
			Help:    "Time the engine took to decode, detect and (if asked) render one image.",
			Buckets: latencyBuckets,
		}, []string{"detector", "operation"}),
		faces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facectl_faces_detected_total",
			Help: "Faces reported, by detector.",
		}, []string{"detector"}),
		facesPerImg: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "facectl_faces_per_image",
			Help:    "Faces reported per image.",
			Buckets: []float64{0, 1, 2, 5, 10, 20, 50, 100},
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "facectl_ready",
			Help: "1 while the server reports ready, 0 while starting or draining.",
		}),
		decodeBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "facectl_decode_memory_reserved_bytes",
			Help: "Native memory reserved by the images being decoded and processed, as estimated from their headers (at most server.max_decode_bytes).",
		}),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "facectl_http_connections_open",
			Help: "Open client connections by listener (main, metrics).",
		}, []string{"listener"}),
		connLimit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "facectl_http_connections_limit",
			Help: "Most client connections a listener keeps open: server.max_connections, lowered to fit the open-file limit.",
		}, []string{"listener"}),
		connsEvicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facectl_http_idle_connections_closed_total",
			Help: "Idle keep-alive connections closed to make room for a new client at the connection limit.",
		}, []string{"listener"}),
		lingered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facectl_http_lingering_closes_total",
			Help: "Responses sent before the request body was read, after which the rest of the body was read and discarded, by outcome: complete, limit (linger_bytes reached), timeout (linger_timeout reached), error.",
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight, m.queueWait, m.queueDepth,
		m.rejections, m.busy, m.workers, m.detection, m.faces, m.facesPerImg, m.ready, m.lingered, m.decodeBytes,
		m.conns, m.connLimit, m.connsEvicted} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, r := range []string{"queue_full", "queue_timeout", "upload_memory_timeout", "decode_memory_timeout", "response_memory_timeout", "client_gone", "deadline", "shutdown"} {
		m.rejections.WithLabelValues(r) // export zeros so rate() works from the start
	}
	return m, nil
}
