package edge

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// maxAppLabels bounds the app label's cardinality: the first apps seen get
// their own series, the rest share "other". Per-app usage for billing is
// metered elsewhere; these series are for operators.
const maxAppLabels = 100

type metrics struct {
	connections   *prometheus.GaugeVec
	subscriptions *prometheus.GaugeVec
	messagesIn    *prometheus.CounterVec
	messagesOut   *prometheus.CounterVec
	errors        *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	framesOut     prometheus.Counter
	slowConsumers prometheus.Counter
	stalledWrites prometheus.Counter
	fanout        prometheus.Histogram

	mu   sync.Mutex
	apps map[string]*appMetrics
}

// appMetrics are one app's series, looked up once per connection.
type appMetrics struct {
	connections   prometheus.Gauge
	subscriptions prometheus.Gauge
	messagesIn    prometheus.Counter
	messagesOut   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_edge_connections", Help: "Open WebSocket connections.",
		}, []string{"app"}),
		subscriptions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_edge_subscriptions", Help: "Channel subscriptions of open connections.",
		}, []string{"app"}),
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_edge_messages_received_total", Help: "Frames received from clients.",
		}, []string{"app"}),
		messagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_edge_messages_sent_total", Help: "Channel events queued to client sockets.",
		}, []string{"app"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_edge_errors_total", Help: "pusher:error frames sent, by code (none = null code).",
		}, []string{"code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_edge_connections_rejected_total", Help: "Connections refused at the handshake, by close code.",
		}, []string{"code"}),
		framesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_edge_frames_written_total", Help: "WebSocket frames written to sockets.",
		}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_edge_slow_consumers_total", Help: "Connections closed because their outbound queue passed its bound.",
		}),
		stalledWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_edge_stalled_writes_total", Help: "Connections closed because a write to them stayed blocked for longer than the write timeout.",
		}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchboard_edge_fanout_duration_seconds",
			Help:    "Time to queue one channel event on every local subscriber (per event, per node).",
			Buckets: []float64{.00001, .00005, .0001, .0005, .001, .005, .01, .05, .1},
		}),
		apps: map[string]*appMetrics{},
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.subscriptions, m.messagesIn, m.messagesOut, m.errors, m.rejected, m.framesOut, m.slowConsumers, m.stalledWrites, m.fanout)
	}
	return m
}

func (m *metrics) app(id string) *appMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.apps[id]; ok {
		return a
	}
	label := id
	if len(m.apps) >= maxAppLabels {
		label = "other"
	}
	a := &appMetrics{
		connections:   m.connections.WithLabelValues(label),
		subscriptions: m.subscriptions.WithLabelValues(label),
		messagesIn:    m.messagesIn.WithLabelValues(label),
		messagesOut:   m.messagesOut.WithLabelValues(label),
	}
	if label != "other" {
		m.apps[id] = a
	}
	return a
}

func (m *metrics) errorSent(code int) {
	label := "none"
	if code != 0 {
		label = strconv.Itoa(code)
	}
	m.errors.WithLabelValues(label).Inc()
}
