package fleetsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Sample is one series of an instant query's answer.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query runs an instant PromQL (or MetricsQL) query against a
// Prometheus-compatible API at base.
func Query(ctx context.Context, base, query string) ([]Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", query, r.Error)
	}
	out := make([]Sample, 0, len(r.Data.Result))
	for _, s := range r.Data.Result {
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %v", query, s.Value[1])
		}
		out = append(out, Sample{Labels: s.Metric, Value: v})
	}
	return out, nil
}

// QueryValue runs a query that gives one number.
func QueryValue(ctx context.Context, base, query string) (float64, error) {
	s, err := Query(ctx, base, query)
	if err != nil {
		return 0, err
	}
	if len(s) != 1 {
		return 0, fmt.Errorf("%s: %d series, want 1", query, len(s))
	}
	return s[0].Value, nil
}

// TableOf reads a compliance table out of the series of
// natp2p:check_verdict_by_firmware:count.
func TableOf(samples []Sample) map[Cell]int {
	t := make(map[Cell]int, len(samples))
	for _, s := range samples {
		l := s.Labels
		t[Cell{l["check"], l["verdict"], l["model"], l["firmware"]}] += int(s.Value)
	}
	return t
}
