package probe

import (
	"strings"
	"testing"
)

// TestWriteTextPunch: the text output names the unsolicited SYN's fate and
// both hole punches.
func TestWriteTextPunch(t *testing.T) {
	r := &Report{Mapping: EndpointIndependent, Filtering: AddressAndPortDependent, TCPMapping: EndpointIndependent,
		TCPUnsolicited: UnsolicitedReset, P2PUDP: ptr(true), P2PTCP: ptr(false)}
	var b strings.Builder
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"unsolicited SYN:    reset\n", "p2p udp:            direct session\n", "p2p tcp:            no direct session\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("%q not in\n%s", want, b.String())
		}
	}
	b.Reset()
	r.P2PTCP = nil
	WriteText(&b, r)
	if !strings.Contains(b.String(), "p2p tcp:            not tried\n") {
		t.Errorf("no punch: %s", b.String())
	}
}
