package conntrackmap

import "testing"

func TestPublicOfAndPublicUsed(t *testing.T) {
	tab := New(Config{Now: fixedClock()})
	a := nat(UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000")
	a2 := nat(UDP, "198.51.100.10:5000", "203.0.113.11:3478", "203.0.113.1:40000")
	v6 := nat(UDP, "[2001:db8::10]:5000", "[2001:db8:1::1]:3478", "[2001:db8:2::1]:6000")
	tab.ApplyAll(newEvents(a, a2, v6))

	tests := []struct {
		name    string
		proto   Proto
		private string
		want    string // "" when not live
	}{
		{"live udp", UDP, "198.51.100.10:5000", "203.0.113.1:40000"},
		{"other protocol", TCP, "198.51.100.10:5000", ""},
		{"other port", UDP, "198.51.100.10:5001", ""},
		{"ipv6", UDP, "[2001:db8::10]:5000", "[2001:db8:2::1]:6000"},
	}
	for _, tt := range tests {
		got, ok := tab.PublicOf(tt.proto, ap(tt.private))
		if tt.want == "" {
			if ok {
				t.Errorf("%s: PublicOf = %v, want none", tt.name, got)
			}
			continue
		}
		if !ok || got != ap(tt.want) {
			t.Errorf("%s: PublicOf = %v, %v; want %s", tt.name, got, ok, tt.want)
		}
	}
	if !tab.PublicUsed(UDP, ap("203.0.113.1:40000")) || !tab.PublicUsed(UDP, ap("[2001:db8:2::1]:6000")) {
		t.Error("PublicUsed = false for live public endpoints")
	}
	if tab.PublicUsed(TCP, ap("203.0.113.1:40000")) || tab.PublicUsed(UDP, ap("203.0.113.1:40001")) {
		t.Error("PublicUsed = true for an unused public endpoint")
	}

	// The mapping stays live until its last flow ends.
	tab.Apply(Event{Type: EventDestroy, Flow: a})
	if _, ok := tab.PublicOf(UDP, ap("198.51.100.10:5000")); !ok {
		t.Error("PublicOf = none while one flow of the mapping lives")
	}
	tab.Apply(Event{Type: EventDestroy, Flow: a2})
	if got, ok := tab.PublicOf(UDP, ap("198.51.100.10:5000")); ok {
		t.Errorf("PublicOf = %v after the last flow ended", got)
	}
	if tab.PublicUsed(UDP, ap("203.0.113.1:40000")) {
		t.Error("PublicUsed = true after the last flow ended")
	}
}

func TestPublicShared(t *testing.T) {
	tab := New(Config{Now: fixedClock()})
	a := nat(UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000")
	tab.Apply(Event{Type: EventNew, Flow: a})
	pub := ap("203.0.113.1:40000")
	if tab.PublicShared(UDP, pub, ap("198.51.100.10:5000")) {
		t.Error("PublicShared = true for the endpoint's own public endpoint")
	}
	if !tab.PublicShared(UDP, pub, ap("198.51.100.11:6000")) {
		t.Error("PublicShared = false for another endpoint")
	}
	// Overloaded: the first user asks and sees the second.
	tab.Apply(Event{Type: EventNew, Flow: nat(UDP, "198.51.100.11:6000", "203.0.113.11:3478", "203.0.113.1:40000")})
	if !tab.PublicShared(UDP, pub, ap("198.51.100.10:5000")) {
		t.Error("PublicShared = false while two endpoints share the public endpoint")
	}
	if tab.PublicShared(TCP, pub, ap("198.51.100.11:6000")) || tab.PublicShared(UDP, ap("203.0.113.1:40001"), ap("198.51.100.11:6000")) {
		t.Error("PublicShared = true for an unused public endpoint")
	}
}
