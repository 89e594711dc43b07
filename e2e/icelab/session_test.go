//go:build linux

package icelab

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/natp2p/natp2p/e2e/icepeer"
)

func TestOutcome(t *testing.T) {
	end := func(local, remote string, echo bool, err string) icepeer.Result {
		return icepeer.Result{Local: icepeer.Candidate{Type: local, Addr: "198.51.100.10:5000"},
			Remote: icepeer.Candidate{Type: remote, Addr: "203.0.113.3:6000"}, Connect: 1030, Echo: echo, Error: err}
	}
	for _, tt := range []struct {
		name    string
		out     Outcome
		relayed bool
		line    string
		err     string
	}{
		{"direct", Outcome{end("host", "prflx", true, ""), end("host", "prflx", true, "")}, false,
			"direct (host <-> prflx, 198.51.100.10:5000 <-> 203.0.113.3:6000), connected in 1030 ms", ""},
		{"relayed remote", Outcome{end("host", "relay", true, ""), end("relay", "prflx", true, "")}, true,
			"relayed (host <-> relay, 198.51.100.10:5000 <-> 203.0.113.3:6000), connected in 1030 ms", ""},
		{"relayed local", Outcome{end("relay", "srflx", true, ""), end("srflx", "relay", true, "")}, true,
			"relayed (relay <-> srflx, 198.51.100.10:5000 <-> 203.0.113.3:6000), connected in 1030 ms", ""},
		{"no echo", Outcome{end("host", "host", true, ""), end("host", "host", false, "")}, false,
			"direct (host <-> host, 198.51.100.10:5000 <-> 203.0.113.3:6000), connected in 1030 ms",
			"icelab: controlled end: no echo over the selected pair"},
		{"failed", Outcome{end("", "", false, "no connection within 8s"), end("", "", false, "")}, false,
			"direct ( <-> , 198.51.100.10:5000 <-> 203.0.113.3:6000), connected in 1030 ms",
			"icelab: controlling end: no connection within 8s\nicelab: controlled end: no echo over the selected pair"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := []any{tt.out.Relayed(), tt.out.String(), errString(tt.out.check())}
			want := []any{tt.relayed, tt.line, tt.err}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Relayed, String, check (-want +got):\n%s", diff)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
