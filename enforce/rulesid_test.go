package enforce

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/natp2p/natp2p/conntrackmap"
)

// everyField is Rules with every field set.
var everyField = Rules{WAN: "eth0.2", LAN: []string{"br-lan", "br-guest"}, Mapping: true, Hairpin: true,
	Sources:  []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("192.168.3.0/24")},
	Preserve: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("100.64.0.0/10")}}

// TestRulesID: the IDs routers save in their state files, and those the
// agents before rules/v1 saved (fmt.Sprintf("%s %+v", backend, rules)). A
// change to an ID makes every router reinstall its rules after the upgrade.
func TestRulesID(t *testing.T) {
	for _, tt := range []struct {
		name       string
		rules      Rules
		backend    string
		id, legacy string
	}{
		// Sources came with the rules that match hairpinned flows by their
		// LAN source: no older agent made them.
		{"every field", everyField, NameIptables,
			`rules/v1 iptables wan="eth0.2" lan=["br-lan" "br-guest"] mapping=true hairpin=true preserve=[192.168.1.0/24 100.64.0.0/10] sources=[192.168.1.0/24 192.168.3.0/24] layout=tree2`,
			""},
		{"before the LAN sources", Rules{WAN: "eth0.2", LAN: []string{"br-lan", "br-guest"}, Mapping: true, Hairpin: true, Preserve: everyField.Preserve}, NameIptables,
			`rules/v1 iptables wan="eth0.2" lan=["br-lan" "br-guest"] mapping=true hairpin=true preserve=[192.168.1.0/24 100.64.0.0/10] layout=tree2`,
			""}, // the iptables layout changed since: the older rules go
		{"mapping only", Rules{WAN: "pppoe-wan", Mapping: true}, NameNftables,
			`rules/v1 nftables wan="pppoe-wan" lan=[] mapping=true hairpin=false preserve=[]`,
			"nftables {WAN:pppoe-wan LAN:[] Mapping:true Hairpin:false Preserve:[]}"},
		{"hairpin only", Rules{WAN: "eth1", LAN: []string{"br-lan"}, Hairpin: true}, NameNftables,
			`rules/v1 nftables wan="eth1" lan=["br-lan"] mapping=false hairpin=true preserve=[]`,
			"nftables {WAN:eth1 LAN:[br-lan] Mapping:false Hairpin:true Preserve:[]}"},
		// One chain of pins, by the agents before the trees of chains.
		{"iptables before the trees", Rules{WAN: "eth1", LAN: []string{"br-lan"}, Hairpin: true}, NameIptables,
			`rules/v1 iptables wan="eth1" lan=["br-lan"] mapping=false hairpin=true preserve=[] layout=tree2`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rules.ID(tt.backend); got != tt.id {
				t.Errorf("ID = %s\nwant %s", got, tt.id)
			}
			if got := tt.rules.legacyID(tt.backend); got != tt.legacy {
				t.Errorf("legacyID = %s\nwant %s", got, tt.legacy)
			}
		})
	}
}

// TestUpgradeKeepsTheSameRules: an agent started over the rules and state
// file an earlier run left (an older agent's or its own) keeps the rules
// when they are the same, and replaces them when they are not.
func TestUpgradeKeepsTheSameRules(t *testing.T) {
	rules := Rules{WAN: "eth0.2", LAN: []string{"br-lan"}, Mapping: true, Hairpin: true}
	other := Rules{WAN: "eth0.2", LAN: []string{"br-lan", "br-guest"}, Mapping: true, Hairpin: true}
	withSources := rules
	withSources.Sources = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	for _, tt := range []struct {
		name      string
		saved     string // the state file's rules
		rules     Rules  // this run's
		reinstall bool
	}{
		{"older agent, same rules", "mem {WAN:eth0.2 LAN:[br-lan] Mapping:true Hairpin:true Preserve:[]}", rules, false},
		{"this agent, same rules", `rules/v1 mem wan="eth0.2" lan=["br-lan"] mapping=true hairpin=true preserve=[]`, rules, false},
		{"older agent, other rules", "mem {WAN:eth0.2 LAN:[br-lan] Mapping:true Hairpin:true Preserve:[]}", other, true},
		{"this agent, other rules", `rules/v1 mem wan="eth0.2" lan=["br-lan"] mapping=true hairpin=true preserve=[]`, other, true},
		{"another backend's rules", "iptables {WAN:eth0.2 LAN:[br-lan] Mapping:true Hairpin:true Preserve:[]}", rules, true},
		{"no rules saved", "", rules, true},
		{"hairpin rules made before the LAN sources", `rules/v1 mem wan="eth0.2" lan=["br-lan"] mapping=true hairpin=true preserve=[]`,
			withSources, true},
		{"this agent, hairpin rules with the LAN sources", withSources.ID("mem"), withSources, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newMem()
			pin := Pin{conntrackmap.UDP, ap("198.51.100.10:5000"), ap("203.0.113.1:40000")}
			b.Install([]Pin{pin})
			state := filepath.Join(t.TempDir(), "enforce.json")
			if err := SaveState(state, State{Backend: "mem", Rules: tt.saved}); err != nil {
				t.Fatal(err)
			}
			e, err := New(Config{Backend: b, Table: conntrackmap.New(conntrackmap.Config{}), StatePath: state, Rules: tt.rules})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Start(); err != nil {
				t.Fatal(err)
			}
			if got := b.installs > 1; got != tt.reinstall {
				t.Errorf("reinstalled %v, want %v", got, tt.reinstall)
			}
			if pins := e.Pins(); len(pins) != 1 || pins[0] != pin {
				t.Errorf("pins %v, want the adopted %v", pins, pin)
			}
			st, err := LoadState(state)
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.rules.ID("mem"); st.Rules != want {
				t.Errorf("state file's rules %q, want %q", st.Rules, want)
			}
		})
	}
}
