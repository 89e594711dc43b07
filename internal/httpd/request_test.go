package httpd

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// promRequest is the request head Prometheus 2.42 sends to scrape.
const promRequest = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Prometheus/2.42.0\r\n" +
	"Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n" +
	"Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n"

func TestParse(t *testing.T) {
	tests := []struct {
		name, head string
		want       request
		status     int
	}{
		{"prometheus", promRequest, request{method: "GET", target: "/metrics", version: "HTTP/1.1", header: []field{
			{"Host", "127.0.0.1:9100"}, {"User-Agent", "Prometheus/2.42.0"},
			{"Accept", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"},
			{"Accept-Encoding", "gzip"}, {"X-Prometheus-Scrape-Timeout-Seconds", "10"}}}, 0},
		{"HTTP/1.0 without Host", "HEAD /metrics?x=1 HTTP/1.0\r\n\r\n", request{method: "HEAD", target: "/metrics?x=1", version: "HTTP/1.0"}, 0},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", request{method: "GET", target: "/", version: "HTTP/1.1", header: []field{{"Host", "a"}}}, 0},
		{"empty lines first", "\r\n\nGET / HTTP/1.0\r\n\r\n", request{method: "GET", target: "/", version: "HTTP/1.0"}, 0},
		{"whitespace around a value", "GET / HTTP/1.1\r\nHost: \t a \t\r\n\r\n", request{method: "GET", target: "/", version: "HTTP/1.1", header: []field{{"Host", "a"}}}, 0},
		{"Content-Length 0", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", request{}, 0},
		{"HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", request{}, statusBadRequest},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", request{}, statusBadRequest},
		{"a body", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", request{}, statusBadRequest},
		{"chunked", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", request{}, statusBadRequest},
		{"HTTP/2", "GET / HTTP/2.0\r\n\r\n", request{}, statusVersion},
		{"no version", "GET /\r\n\r\n", request{}, statusBadRequest},
		{"lower-case version", "GET / http/1.1\r\n\r\n", request{}, statusBadRequest},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", request{}, statusBadRequest},
		{"absolute form", "GET http://a/metrics HTTP/1.1\r\nHost: a\r\n\r\n", request{}, statusBadRequest},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", request{}, statusBadRequest},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", request{}, statusBadRequest},
		{"obsolete folding", "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", request{}, statusBadRequest},
		{"no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", request{}, statusBadRequest},
		{"bare CR", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", request{}, statusBadRequest},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n", request{}, statusBadRequest},
		{"control in target", "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", request{}, statusBadRequest},
		{"method not a token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", request{}, statusBadRequest},
		{"empty", "\r\n\r\n", request{}, statusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, status := parse([]byte(tt.head))
			if status != tt.status {
				t.Fatalf("status = %d, want %d", status, tt.status)
			}
			if status == 0 && tt.want.method != "" {
				if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(request{}, field{})); diff != "" {
					t.Errorf("request (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestHeadEnd(t *testing.T) {
	for head, want := range map[string]int{
		"GET / HTTP/1.1\r\n\r\nrest": 18,
		"GET / HTTP/1.1\n\nrest":     16,
		"GET / HTTP/1.1\r\n\r":       -1,
		"GET / HTTP/1.1\r\n":         -1,
		"":                           -1,
		"\n\n":                       2,
	} {
		if got := headEnd([]byte(head)); got != want {
			t.Errorf("headEnd(%q) = %d, want %d", head, got, want)
		}
	}
}

// encode writes a parsed request back as a head.
func encode(r request) []byte {
	var b strings.Builder
	b.WriteString(r.method + " " + r.target + " " + r.version + "\r\n")
	for _, f := range r.header {
		b.WriteString(f.name + ": " + f.value + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

func TestTrimOWS(t *testing.T) {
	for in, want := range map[string]string{"": "", " \t": "", " x ": "x", "\tx y\t": "x y", "x": "x", " \x00 ": "\x00"} {
		if got := trimOWS(in); got != want {
			t.Errorf("trimOWS(%q) = %q, want %q", in, got, want)
		}
	}
}
