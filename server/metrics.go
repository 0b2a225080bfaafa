package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyward/keyward"
)

// metrics are the server's Prometheus metrics. Labels hold route patterns,
// database names and key versions: never an entry path, a token or a value.
type metrics struct {
	reg               *prometheus.Registry
	requests          *prometheus.CounterVec
	latency           *prometheus.HistogramVec
	integrityFailures *prometheus.CounterVec
	authFailures      prometheus.Counter
	handler           http.Handler
}

func newMetrics(s *Server, reg *prometheus.Registry) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code (-1: connection aborted mid-answer).",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keyward_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
		integrityFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_integrity_failures_total",
			Help: "Records (entries, attachment chunks) that failed to decrypt, by database.",
		}, []string{"database"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyward_auth_failures_total",
			Help: "Requests with an unknown, revoked or expired token.",
		}),
	}
	sealed := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keyward_sealed", Help: "1 while no key slot has unlocked the keys.",
	}, func() float64 { return boolFloat(s.kw.Sealed()) })
	maint := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keyward_maintenance", Help: "1 while maintenance mode is on (as last read from the store).",
	}, func() float64 { return boolFloat(s.maint.cached().Enabled) })
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.integrityFailures, m.authFailures,
		sealed, maint, &keyCollector{kw: s.kw}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m, nil
}

func (m *metrics) observe(sw *statusWriter, method string, start time.Time) {
	code := sw.code
	if code == 0 {
		code = http.StatusOK
	}
	m.requests.WithLabelValues(sw.route, method, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(sw.route, method).Observe(time.Since(start).Seconds())
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	_, _ = s.maint.get(r.Context()) // refresh the gauge
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}

// keyCollector reports, at each scrape, how many records each data key
// version of each database still encrypts.
type keyCollector struct{ kw *keyward.Keyward }

var keyRecordsDesc = prometheus.NewDesc("keyward_key_version_records",
	"Entries and attachments encrypted under each data key version, by database, version and state.",
	[]string{"database", "version", "state"}, nil)

func (c *keyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- keyRecordsDesc }

func (c *keyCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.kw.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(keyRecordsDesc, err)
		return
	}
	for _, db := range st.Databases {
		for _, k := range db.Keys {
			ch <- prometheus.MustNewConstMetric(keyRecordsDesc, prometheus.GaugeValue,
				float64(k.Entries+k.Attachments), db.Name, strconv.FormatUint(uint64(k.Version), 10), k.State)
		}
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
