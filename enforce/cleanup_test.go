package enforce

import (
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/natp2p/natp2p/conntrackmap"
)

// fakeNAT is the nat table: its chains, each with its rule count and
// whether it is a base chain.
type fakeNAT struct {
	exists  bool
	chains  map[string]int
	base    map[string]bool
	deleted []string
}

func (f *fakeNAT) read() (NATTable, int, error) {
	t := NATTable{Exists: f.exists, Chains: []string{}}
	for c := range f.chains {
		if f.base[c] {
			t.Chains = append(t.Chains, c)
		}
	}
	sort.Strings(t.Chains)
	return t, len(f.chains), nil
}

func (f *fakeNAT) rules(c string) (int, error) { return f.chains[c], nil }

func (f *fakeNAT) delChain(c string) error {
	delete(f.chains, c)
	f.deleted = append(f.deleted, c)
	return nil
}

func (f *fakeNAT) delTable() error {
	f.exists = false
	f.deleted = append(f.deleted, "table")
	return nil
}

// TestSweepNAT: cleanup deletes the nat table's base chains (and the
// table) that natp2p's use created, only when they are empty; what was
// there before, and what others put there since, stays.
func TestSweepNAT(t *testing.T) {
	post := NATTable{Exists: true, Chains: []string{"POSTROUTING"}}
	base := map[string]bool{"POSTROUTING": true, "PREROUTING": true}
	for _, tt := range []struct {
		name   string
		before NATTable
		rules  map[string]int
		want   []string // deleted, in order
	}{
		{"prerouting created", post, map[string]int{"POSTROUTING": 1, "PREROUTING": 0}, []string{"PREROUTING"}},
		{"prerouting used by another since", post, map[string]int{"POSTROUTING": 1, "PREROUTING": 1}, nil},
		{"both there before", NATTable{Exists: true, Chains: []string{"POSTROUTING", "PREROUTING"}},
			map[string]int{"POSTROUTING": 0, "PREROUTING": 0}, nil},
		{"table created", NATTable{Chains: []string{}}, map[string]int{"POSTROUTING": 0, "PREROUTING": 0},
			[]string{"POSTROUTING", "PREROUTING", "table"}},
		{"table created, used by another since", NATTable{Chains: []string{}},
			map[string]int{"POSTROUTING": 2, "PREROUTING": 0}, []string{"PREROUTING"}},
		{"table created, a chain of another's in it", NATTable{Chains: []string{}},
			map[string]int{"POSTROUTING": 0, "MINE": 0}, []string{"POSTROUTING"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeNAT{exists: true, chains: tt.rules, base: base}
			if err := sweepNAT(f, tt.before); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, f.deleted); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
		})
	}
	f := &fakeNAT{chains: map[string]int{}}
	if err := sweepNAT(f, post); err != nil || f.deleted != nil {
		t.Errorf("no nat table: deleted %v, %v", f.deleted, err)
	}
}

// footBackend is a memBackend with a footprint: what Footprint reads,
// and the Sweeps asked for.
type footBackend struct {
	*memBackend
	now    NATTable
	sweeps []NATTable
}

func (b *footBackend) Footprint() (*NATTable, error) { nat := b.now; return &nat, nil }
func (b *footBackend) Sweep(before NATTable) error   { b.sweeps = append(b.sweeps, before); return nil }

// TestFootprintRecordedAndSwept: the first install records the nat table
// as it was in the state file; a later start keeps that record; cleanup
// sweeps with it.
func TestFootprintRecordedAndSwept(t *testing.T) {
	state := filepath.Join(t.TempDir(), "agent.enforce.json")
	first := NATTable{Exists: true, Chains: []string{"POSTROUTING"}}
	start := func(now NATTable) *footBackend {
		t.Helper()
		b := &footBackend{memBackend: newMem(), now: now}
		e, err := New(Config{Backend: b, Table: conntrackmap.New(conntrackmap.Config{}), StatePath: state,
			Rules: Rules{WAN: "wan0", Mapping: true}})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
		return b
	}
	start(first)
	start(NATTable{Exists: true, Chains: []string{"POSTROUTING", "PREROUTING"}}) // natp2p's own now
	st, err := LoadState(state)
	if err != nil || st.IPTNat == nil || !cmp.Equal(*st.IPTNat, first) {
		t.Fatalf("state records %+v, %v; want the nat table before the first install, %+v", st.IPTNat, err, first)
	}
	b := &footBackend{memBackend: newMem()}
	if err := Cleanup([]Backend{b}, memSysctl{}, state); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]NATTable{first}, b.sweeps); diff != "" {
		t.Errorf("sweeps (-want +got):\n%s", diff)
	}
	if err := Cleanup([]Backend{b}, memSysctl{}, state); err != nil || len(b.sweeps) != 1 {
		t.Errorf("cleanup without a state file swept %v, %v; want nothing more", b.sweeps, err)
	}
}
