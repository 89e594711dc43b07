package agent

import "testing"

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
