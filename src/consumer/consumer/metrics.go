package consumer

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/aks-edw/aks-edw/internal/message"
)

// Metrics are the consumer's Prometheus metrics, registered on a registry of their own.
type Metrics struct {
	Registry *prometheus.Registry

	Processed   prometheus.Counter
	Failed      *prometheus.CounterVec
	Poisoned    *prometheus.CounterVec
	Redelivered *prometheus.CounterVec
	InFlight    prometheus.Gauge

	// ProcessingSeconds runs from the receive call that returned a message to its delete.
	ProcessingSeconds prometheus.Histogram
	// EndToEndSeconds runs from the message's srcStamp to the row write.
	EndToEndSeconds prometheus.Histogram
}

// NewMetrics creates the metrics with the Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Processed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edw_consumer_messages_processed_total",
			Help: "Messages whose row was written.",
		}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edw_consumer_messages_failed_total",
			Help: "Messages left in the queue after a failed step, to be redelivered when their visibility timeout ends.",
		}, []string{"step"}),
		Poisoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edw_consumer_messages_poisoned_total",
			Help: "Messages moved to the poison queue, by reason.",
		}, []string{"reason"}),
		Redelivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edw_consumer_messages_redelivered_total",
			Help: "Redeliveries seen: a dequeue count above 1 on receive, or a stale pop receipt on delete.",
		}, []string{"event"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edw_consumer_messages_in_flight",
			Help: "Messages received and not yet deleted, poisoned or released.",
		}),
		ProcessingSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edw_consumer_processing_seconds",
			Help:    "Time from receiving a message to deleting it.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		EndToEndSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edw_consumer_end_to_end_seconds",
			Help:    "Time from the message's srcStamp to its row write.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 14),
		}),
	}
	// Every label value is exported from the start, at 0, so rate() and alerts see a series
	// before the first event.
	for _, step := range []string{"decode", "upsert", "delete", "delete_poisoned", "poison"} {
		m.Failed.WithLabelValues(step)
	}
	for _, reason := range []message.Reason{
		message.ReasonUndecodable, message.ReasonInvalidBase64, message.ReasonInvalidUTF8,
		message.ReasonInvalidJSON, message.ReasonMissingField, message.ReasonInvalidSrcStamp,
		message.ReasonRowRejected, message.ReasonMaxDequeueCount, message.ReasonProcessingFailed,
	} {
		m.Poisoned.WithLabelValues(string(reason))
	}
	for _, event := range []string{"dequeue_count", "stale_pop_receipt"} {
		m.Redelivered.WithLabelValues(event)
	}

	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Processed, m.Failed, m.Poisoned, m.Redelivered, m.InFlight,
		m.ProcessingSeconds, m.EndToEndSeconds,
	)
	return m
}
