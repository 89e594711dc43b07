//go:build linux

package lab

import (
	"net/netip"
	"strings"
	"testing"
)

const sampleConntrack = `udp      17 29 src=198.51.100.10 dst=203.0.113.10 sport=40000 dport=3478 src=203.0.113.10 dst=203.0.113.1 sport=3478 dport=40000 mark=0 use=1
udp      17 28 src=198.51.100.11 dst=203.0.113.11 sport=5000 dport=10000 [UNREPLIED] src=203.0.113.11 dst=203.0.113.1 sport=10000 dport=61000 mark=0 use=1
tcp      6 431999 ESTABLISHED src=198.51.100.10 dst=203.0.113.10 sport=41000 dport=3478 src=203.0.113.10 dst=203.0.113.1 sport=3478 dport=41000 [ASSURED] mark=0 use=1
icmp     1 29 src=198.51.100.10 dst=203.0.113.10 type=8 code=0 id=7 src=203.0.113.10 dst=203.0.113.1 type=0 code=0 id=7 mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.
`

func TestParseConntrack(t *testing.T) {
	flows := ParseConntrack([]byte(sampleConntrack))
	if len(flows) != 4 {
		t.Fatalf("parsed %d flows, want 4: %+v", len(flows), flows)
	}
	ap := netip.MustParseAddrPort
	want := Flow{Proto: "udp", OrigSrc: ap("198.51.100.11:5000"), OrigDst: ap("203.0.113.11:10000"),
		ReplySrc: ap("203.0.113.11:10000"), ReplyDst: ap("203.0.113.1:61000"), Unreplied: true}
	if flows[1] != want {
		t.Errorf("flow 1 = %+v, want %+v", flows[1], want)
	}
	if f := flows[2]; f.State != "ESTABLISHED" || !f.Assured || f.ReplyDst != ap("203.0.113.1:41000") {
		t.Errorf("tcp flow = %+v", f)
	}
	if f := flows[3]; f.Proto != "icmp" || f.ReplyDst != ap("203.0.113.1:0") {
		t.Errorf("icmp flow = %+v", f)
	}
}

func TestOwnerPID(t *testing.T) {
	for name, want := range map[string]int{
		"np1234-a1b2c3-r": 1234, "np7-000000-l12": 7, "np1234-a1b2c3": 0,
		"np-a1b2c3-r": 0, "xnp1234-a1b2c3-r": 0, "np1234-A1B2C3-r": 0, "other": 0,
	} {
		got, ok := ownerPID(name)
		if got != want || ok != (want != 0) {
			t.Errorf("ownerPID(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	if _, ok := ownerPID(newPrefix() + "-r"); !ok {
		t.Errorf("newPrefix does not produce a sweepable name")
	}
}

func TestNFTScript(t *testing.T) {
	for nat, want := range map[NAT]string{
		Masquerade:            `oifname "wan0" masquerade`,
		MasqueradeFullyRandom: `masquerade fully-random`,
		SNATPool:              `snat ip to 203.0.113.1-203.0.113.2`,
		NoNAT:                 `ct state new,established,related accept`,
	} {
		s := nftScript(nat)
		if !strings.Contains(s, want) || !strings.HasPrefix(s, "table ip labnat {") {
			t.Errorf("nftScript(%s) = %q, want it to contain %q", nat, s, want)
		}
	}
}

func TestConfigNormalize(t *testing.T) {
	c, err := Config{}.normalize()
	if err != nil || c.NAT != Masquerade || c.Backend != Nftables || c.LANHosts != 2 || c.Logf == nil {
		t.Errorf("defaults = %+v, %v", c, err)
	}
	second := &SiteConfig{}
	c, err = Config{Second: second}.normalize()
	if err != nil || *c.Second != (SiteConfig{NAT: Masquerade, Backend: Nftables, LANHosts: 1}) || *second != (SiteConfig{}) {
		t.Errorf("second router's defaults = %+v, %v (caller's config now %+v)", c.Second, err, second)
	}
	for _, bad := range []Config{{NAT: "x"}, {Backend: "pf"}, {LANHosts: 201}, {LANHosts: -1}, {UDPTimeout: -1},
		{NAT: DMZ, Second: &SiteConfig{}}, {Second: &SiteConfig{NAT: SNATPool}}, {Second: &SiteConfig{Backend: "pf"}},
		{Second: &SiteConfig{LANHosts: 201}}} {
		if _, err := bad.normalize(); err == nil {
			t.Errorf("normalize(%+v) accepted", bad)
		}
	}
}
