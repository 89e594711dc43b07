//go:build linux

package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestSelfMetric(t *testing.T) {
	page := `# HELP vm_rows_inserted_total Rows.
# TYPE vm_rows_inserted_total counter
vm_rows_inserted_total{type="prometheus"} 120
vm_rows_inserted_total{type="promremotewrite", path="/a{b}"} 30
vm_rows_inserted_total_extra 999
vm_rows 7
prometheus_tsdb_head_samples_appended_total 1.5e+06
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, page) }))
	defer srv.Close()
	tests := []struct {
		name string
		want float64
	}{
		{"vm_rows_inserted_total", 150},
		{"prometheus_tsdb_head_samples_appended_total", 1.5e6},
		{"vm_rows", 7},
	}
	for _, tt := range tests {
		got, err := selfMetric(srv.URL, tt.name)
		if err != nil || got != tt.want {
			t.Errorf("%s: %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := selfMetric(srv.URL, "vm_missing_total"); err == nil {
		t.Error("a metric the page lacks: no error")
	}
}

func TestParseSizes(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		ok   bool
	}{
		{"100,500", []int{100, 500}, true},
		{" 20 ", []int{20}, true},
		{"100,", nil, false},
		{"0", nil, false},
		{"ten", nil, false},
	}
	for _, tt := range tests {
		got, err := parseSizes(tt.in)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("parseSizes(%q) = %v, %v", tt.in, got, err)
		}
	}
}
