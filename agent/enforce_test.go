package agent

import (
	"net/netip"
	"testing"

	"github.com/natp2p/natp2p/internal/logx"
)

func TestStatePathFollowsTheSocket(t *testing.T) {
	for socket, want := range map[string]string{
		"":                           "/var/run/natp2p/agent.enforce.json",
		"/var/run/natp2p/agent.sock": "/var/run/natp2p/agent.enforce.json",
		"/tmp/x/other.sock":          "/tmp/x/other.enforce.json",
		"/tmp/x/plain":               "/tmp/x/plain.enforce.json",
	} {
		if got := StatePath(socket); got != want {
			t.Errorf("StatePath(%q) = %q, want %q", socket, got, want)
		}
	}
}

func TestPreserveNetworksApplies(t *testing.T) {
	a := &Agent{log: logx.Discard()}
	for _, tt := range []struct {
		backend string
		mapping bool
	}{{BackendIptables, false}, {BackendNftables, true}} {
		if nets, err := a.preserveNetworks(tt.backend, []string{"lo"}, tt.mapping); nets != nil || err != nil {
			t.Errorf("preserveNetworks(%s, mapping %v) = %v, %v; want nothing", tt.backend, tt.mapping, nets, err)
		}
	}
	for addr, want := range map[string]bool{"192.168.1.1": true, "10.2.3.4": true, "172.16.0.1": true, "100.64.0.1": true,
		"100.127.255.254": true, "100.128.0.1": false, "198.51.100.1": false, "203.0.113.1": false} {
		if got := isPrivate(netip.MustParseAddr(addr)); got != want {
			t.Errorf("isPrivate(%s) = %v", addr, got)
		}
	}
}
