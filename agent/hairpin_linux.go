//go:build linux

package agent

import (
	"github.com/ti-mo/conntrack"

	"github.com/natp2p/natp2p/conntrackmap"
)

// repliedNow looks hairpinned flows up in the kernel's table and returns
// those that got a reply (IPS_SEEN_REPLY). Flows gone meanwhile are
// skipped: their destroy event tells.
func repliedNow(flows []conntrackmap.HairpinFlow, filter Filter) []conntrackmap.Flow {
	c, err := conntrack.Dial(nil)
	if err != nil {
		return nil
	}
	defer c.Close()
	var out []conntrackmap.Flow
	for _, h := range flows {
		s, p := h.Sender, h.Public
		got, err := c.Get(conntrack.NewFlow(uint8(h.Proto), 0, s.Addr(), p.Addr(), s.Port(), p.Port(), 0, 0))
		if err != nil || !got.Status.SeenReply() {
			continue
		}
		if f, ok := filter.Flow(&got); ok && f.Hairpin != conntrackmap.NotHairpin {
			out = append(out, f)
		}
	}
	return out
}
