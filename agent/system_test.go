package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

var fixture = System{Proc: "testdata/proc", Sys: "testdata/sys"}

func TestSysctls(t *testing.T) {
	got := fixture.Sysctls([]string{
		"net.netfilter.nf_conntrack_udp_timeout",
		"net.netfilter.nf_conntrack_udp_timeout_stream",
		"net.netfilter.nf_conntrack_tcp_timeout_established", // not a number: left out
		"net.netfilter.nf_conntrack_missing",                 // absent: left out
	})
	want := map[string]int{
		"net.netfilter.nf_conntrack_udp_timeout":        30,
		"net.netfilter.nf_conntrack_udp_timeout_stream": 120,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Sysctls (-want +got):\n%s", diff)
	}
}

func TestDefaultRouteInterface(t *testing.T) {
	got, err := fixture.DefaultRouteInterface()
	if err != nil || got != "wan" {
		t.Errorf("DefaultRouteInterface() = %q, %v; want wan", got, err)
	}
	if _, err := (System{Proc: t.TempDir()}).DefaultRouteInterface(); err == nil {
		t.Error("DefaultRouteInterface() without a routing table: no error")
	}
}

func TestNATHelpers(t *testing.T) {
	if diff := cmp.Diff([]string{"nf_nat_sip"}, fixture.NATHelpers()); diff != "" {
		t.Errorf("NATHelpers (-want +got):\n%s", diff)
	}
	if got := (System{Proc: t.TempDir(), Sys: t.TempDir() + "/none"}).NATHelpers(); got != nil {
		t.Errorf("NATHelpers() with nothing readable = %v, want nil", got)
	}
}
