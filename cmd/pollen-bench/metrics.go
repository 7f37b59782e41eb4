package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one reading of the server's /metrics.
type scrape map[string]*dto.MetricFamily

func (s *benchServer) metrics(ctx context.Context) (scrape, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/metrics", nil)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the server's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading the server's metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the server's metrics: %w", err)
	}
	return scrape(mfs), nil
}

// sum is the total of a counter or gauge over all its label values.
func (m scrape) sum(name string) float64 {
	return m.sumWhere(name, "")
}

// sumWhere is the total over the series with a label pair (`code="429"`); "" matches all.
func (m scrape) sumWhere(name, pair string) float64 {
	mf := m[name]
	if mf == nil {
		return 0
	}
	total := 0.0
	for _, met := range mf.GetMetric() {
		if pair != "" && !hasLabel(met, pair) {
			continue
		}
		switch {
		case met.Counter != nil:
			total += met.Counter.GetValue()
		case met.Gauge != nil:
			total += met.Gauge.GetValue()
		case met.Untyped != nil:
			total += met.Untyped.GetValue()
		}
	}
	return total
}

func hasLabel(met *dto.Metric, pair string) bool {
	for _, l := range met.GetLabel() {
		if fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()) == pair {
			return true
		}
	}
	return false
}

// histogram is a histogram's cumulative buckets, by upper bound.
type histogram struct {
	bounds []float64
	counts []float64 // cumulative
	total  float64
}

func (m scrape) histogram(name string) histogram {
	var h histogram
	mf := m[name]
	if mf == nil || len(mf.GetMetric()) == 0 || mf.GetMetric()[0].Histogram == nil {
		return h
	}
	hist := mf.GetMetric()[0].Histogram
	for _, b := range hist.GetBucket() {
		h.bounds = append(h.bounds, b.GetUpperBound())
		h.counts = append(h.counts, float64(b.GetCumulativeCount()))
	}
	h.total = float64(hist.GetSampleCount())
	return h
}

// minus is the observations made between b and h.
func (h histogram) minus(b histogram) histogram {
	out := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts)), total: h.total - b.total}
	for i := range h.counts {
		out.counts[i] = h.counts[i]
		if i < len(b.counts) {
			out.counts[i] -= b.counts[i]
		}
	}
	return out
}

// plus is the observations of two histograms of the same buckets together.
func (h histogram) plus(b histogram) histogram {
	if len(h.bounds) == 0 {
		return b
	}
	out := histogram{bounds: h.bounds, counts: append([]float64(nil), h.counts...), total: h.total + b.total}
	for i := range out.counts {
		if i < len(b.counts) {
			out.counts[i] += b.counts[i]
		}
	}
	return out
}

// quantile estimates a quantile as Prometheus's histogram_quantile does: linear interpolation
// within the bucket that holds it. Past the last finite bound it returns that bound; -1 when
// there are no observations.
func (h histogram) quantile(q float64) float64 {
	if h.total <= 0 || len(h.bounds) == 0 {
		return -1
	}
	rank := q * h.total
	i := sort.Search(len(h.counts), func(i int) bool { return h.counts[i] >= rank })
	if i >= len(h.bounds) || math.IsInf(h.bounds[i], 1) {
		return h.bounds[len(h.bounds)-1]
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = h.bounds[i-1], h.counts[i-1]
	}
	inBucket := h.counts[i] - below
	if inBucket <= 0 {
		return h.bounds[i]
	}
	return lower + (h.bounds[i]-lower)*(rank-below)/inBucket
}
