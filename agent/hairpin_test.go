package agent

import (
	"testing"

	"github.com/natp2p/natp2p/conntrackmap"
)

// TestRefreshReplies: before a report the agent asks the kernel about the
// live hairpinned flows without a reply, and only those; a reply it
// learns reaches the table.
func TestRefreshReplies(t *testing.T) {
	answered := conntrackmap.Flow{Proto: conntrackmap.UDP,
		Orig:    conntrackmap.Tuple{Src: ap("198.51.100.10:5000"), Dst: ap("203.0.113.1:61854")},
		Reply:   conntrackmap.Tuple{Src: ap("198.51.100.11:6000"), Dst: ap("203.0.113.1:7482")},
		Hairpin: conntrackmap.HairpinPublic, Replied: true}
	silent := answered
	silent.Orig.Src, silent.Replied = ap("198.51.100.12:5000"), false
	pending := answered
	pending.Replied = false
	a := &Agent{table: conntrackmap.New(conntrackmap.Config{})}
	a.table.ApplyAll([]conntrackmap.Event{{Type: conntrackmap.EventNew, Flow: pending},
		{Type: conntrackmap.EventNew, Flow: silent}})
	var asked []conntrackmap.HairpinFlow
	a.replies = func(hs []conntrackmap.HairpinFlow, _ Filter) []conntrackmap.Flow {
		asked = append(asked, hs...)
		return []conntrackmap.Flow{answered}
	}
	a.refreshReplies()
	if len(asked) != 2 {
		t.Errorf("asked about %d flows, want the 2 without a reply: %+v", len(asked), asked)
	}
	if h := a.table.Summary().Hairpin; h.Replied != 1 || h.SeenWorking != 1 {
		t.Errorf("after the lookup: %+v, want 1 replied and working", h)
	}
	asked = nil
	a.table.ApplyAll([]conntrackmap.Event{{Type: conntrackmap.EventDestroy, Flow: silent}})
	a.refreshReplies()
	if len(asked) != 0 {
		t.Errorf("asked again about %+v, though every live hairpinned flow has its reply", asked)
	}
	// A flow that ended between the lookup and the answer stays ended.
	a.table.ApplyAll([]conntrackmap.Event{{Type: conntrackmap.EventDestroy, Flow: pending}})
	a.table.MarkReplied([]conntrackmap.Flow{answered})
	if h := a.table.Summary().Hairpin; h.Flows != 0 || h.SeenWorking != 1 {
		t.Errorf("a reply to an ended flow brought it back: %+v", h)
	}
}

// TestEnforcerEvents: the enforcer never sees a hairpinned flow whose
// receiver saw a private source (it has no mapping to pin); every other
// event reaches it, in order.
func TestEnforcerEvents(t *testing.T) {
	private := conntrackmap.Event{Type: conntrackmap.EventNew, Flow: conntrackmap.Flow{Proto: conntrackmap.UDP,
		Orig:    conntrackmap.Tuple{Src: ap("198.51.100.10:5000"), Dst: ap("203.0.113.1:61854")},
		Reply:   conntrackmap.Tuple{Src: ap("198.51.100.11:6000"), Dst: ap("198.51.100.10:5000")},
		Hairpin: conntrackmap.HairpinPrivate}}
	public := private
	public.Flow.Reply.Dst, public.Flow.Hairpin = ap("203.0.113.1:7482"), conntrackmap.HairpinPublic
	mapped := conntrackmap.Event{Type: conntrackmap.EventNew, Flow: natFlow}
	var got []conntrackmap.Event
	enforcerEvents(func(evs []conntrackmap.Event) { got = append(got, evs...) })([]conntrackmap.Event{mapped, private, public})
	if len(got) != 2 || got[0] != mapped || got[1] != public {
		t.Errorf("the enforcer got %+v, want the mapped and the public hairpinned flow", got)
	}
}
