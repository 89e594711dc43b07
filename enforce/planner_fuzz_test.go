package enforce

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
)

// kernel is a model of a backend's pins: Update fails like nftables on a
// missing element to delete or a key that exists with other data; with
// learning, a fresh flow of an unpinned endpoint is pinned by the kernel
// first, unless its public endpoint is pinned (the learn chain).
type kernel struct {
	pins  map[endpointKey]Pin
	learn bool
}

func (k *kernel) update(ch Changes) error {
	for _, p := range ch.Unlearn { // one by one, a missing pin is no error
		if got, ok := k.pins[p.key()]; ok && got == p {
			delete(k.pins, p.key())
		}
	}
	for _, p := range ch.Delete {
		if got, ok := k.pins[p.key()]; !ok || got != p {
			return fmt.Errorf("delete of %v: kernel holds %v, %v", p, got, ok)
		}
		delete(k.pins, p.key())
	}
	for _, p := range ch.Add {
		if got, ok := k.pins[p.key()]; ok && got != p {
			return fmt.Errorf("add of %v: kernel holds %v", p, got)
		}
		k.pins[p.key()] = p
	}
	return nil
}

func (k *kernel) pinned(proto conntrackmap.Proto, public netip.AddrPort) bool {
	for _, p := range k.pins {
		if p.Proto == proto && p.Public == public {
			return true
		}
	}
	return false
}

// FuzzPlanner drives a Planner with flows over a small universe (three
// hosts, few ports, so that overloading, quotas and moves happen), against
// a live conntrackmap.Table and a kernel model, and checks after every
// step: every change applies to the kernel as nftables would take it, the
// planner's pins are in the kernel, no two pins share a public endpoint,
// no host is over its quota, and idle pins go after the grace period.
func FuzzPlanner(f *testing.F) {
	f.Add([]byte{0x01, 0x00, 0x10, 0x01, 0x02, 0x10, 0x03, 0x00})
	f.Add([]byte{0x81, 0x04, 0x21, 0x85, 0x05, 0x22, 0x02, 0x04, 0x21, 0x03, 0x00, 0x00})
	f.Add([]byte{0x01, 0x00, 0x00, 0x01, 0x01, 0x00, 0x01, 0x02, 0x00, 0x41, 0x08, 0x00, 0x03, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		learn := len(data) > 0 && data[0]&0x40 != 0
		port := 0
		p := NewPlanner(PlannerConfig{Quota: 2, Grace: 10 * time.Second, KernelPins: learn,
			Intn: func(n int) int { port = (port + 7) % 8; return 40000 - portMin + port }})
		tab := conntrackmap.New(conntrackmap.Config{})
		k := &kernel{pins: map[endpointKey]Pin{}, learn: learn}
		now := t0
		live := map[conntrackmap.Flow]bool{}
		for i := 0; i+3 <= len(data) && i < 3*200; i += 3 {
			op, a, b := data[i]&0x3, data[i+1], data[i+2]
			proto := conntrackmap.UDP
			if data[i]&0x80 != 0 {
				proto = conntrackmap.TCP
			}
			priv := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, 10 + a%3}), 5000+uint16(a>>2%2))
			remote := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, 10 + b%2}), 3478+uint16(b>>1%2))
			var ch Changes
			switch op {
			case 0, 1: // a new flow: through its pin, or where the NAT puts it
				public := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), 40000+uint16(b>>2%8))
				learned := false
				if pin, ok := k.pins[endpointKey{proto, priv}]; ok {
					public = pin.Public
				} else if k.learn && !k.pinned(proto, public) {
					learned = true
				}
				if usedTowards(live, flow(proto, priv.String(), remote.String(), public.String())) {
					continue // conntrack would refuse the reply tuple
				}
				if learned {
					k.pins[endpointKey{proto, priv}] = Pin{proto, priv, public}
				}
				fl := flow(proto, priv.String(), remote.String(), public.String())
				if live[fl] || usedTowards(live, fl) {
					continue // an existing flow, or a reply tuple conntrack would refuse
				}
				live[fl] = true
				tab.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: fl})
				p.Observe(fl, true, tab, &ch)
			case 2: // a flow ends
				for fl := range live {
					if fl.Private() == priv {
						delete(live, fl)
						tab.Apply(conntrackmap.Event{Type: conntrackmap.EventDestroy, Flow: fl})
						break
					}
				}
			case 3: // time passes
				now = now.Add(time.Duration(b%16) * time.Second)
				ch = p.Sweep(now, tab)
			}
			if err := k.update(ch); err != nil {
				t.Fatalf("step %d: %v (changes %+v)", i/3, err, ch)
			}
			checkPlanner(t, p, k)
		}
		// Long after every flow ended, no pin is left.
		for fl := range live {
			tab.Apply(conntrackmap.Event{Type: conntrackmap.EventDestroy, Flow: fl})
		}
		p.Sweep(now.Add(time.Hour), tab)
		if ch := p.Sweep(now.Add(2*time.Hour), tab); len(p.Pins()) != 0 {
			t.Fatalf("pins left after every flow ended: %v (last sweep %+v)", p.Pins(), ch)
		}
	})
}

// usedTowards reports whether a live flow already uses fl's public
// endpoint towards fl's remote: the same reply tuple.
func usedTowards(live map[conntrackmap.Flow]bool, fl conntrackmap.Flow) bool {
	for o := range live {
		if o.Proto == fl.Proto && o.Public() == fl.Public() && o.Remote() == fl.Remote() {
			return true
		}
	}
	return false
}

func checkPlanner(t *testing.T, p *Planner, k *kernel) {
	t.Helper()
	seen := map[endpointKey]Pin{}
	hosts := map[netip.Addr]int{}
	for _, pin := range p.Pins() {
		if got, ok := k.pins[pin.key()]; !ok || got != pin {
			t.Fatalf("planner pin %v, kernel holds %v, %v", pin, got, ok)
		}
		if other, dup := seen[pin.publicKey()]; dup {
			t.Fatalf("pins %v and %v share a public endpoint", pin, other)
		}
		seen[pin.publicKey()] = pin
		hosts[pin.Private.Addr()]++
	}
	for h, n := range hosts {
		if n > p.cfg.Quota {
			t.Fatalf("host %v holds %d pins, quota %d", h, n, p.cfg.Quota)
		}
	}
}
