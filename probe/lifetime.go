package probe

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/natp2p/natp2p/probe/stun"
)

// Lifetime is how long the NAT kept an idle UDP mapping: more than Min and
// at most Max. Max is zero when the mapping outlived the whole search.
type Lifetime struct {
	Min time.Duration `json:"min_ns"`
	Max time.Duration `json:"max_ns,omitempty"`
}

// String writes "between 110s and 120s", or "more than 300s".
func (l Lifetime) String() string {
	if l.Max == 0 {
		return fmt.Sprintf("more than %v", l.Min)
	}
	return fmt.Sprintf("between %v and %v", l.Min, l.Max)
}

// Lifetime runs RFC 5780 4.6 binding lifetime discovery, all tries at
// once: at the start it opens one socket per step and asks the
// introducer from each (a mapping each); after step*i it asks the
// introducer, from a fresh socket, to answer to socket i's public port
// (RESPONSE-PORT). The answer arrives while socket i's mapping lives. The
// first mapping found dead ends the search, so it lasts about the lifetime
// plus a step, at most max.
func (c *Client) Lifetime(ctx context.Context, step, max time.Duration) (Lifetime, error) {
	if step <= 0 || max < step {
		return Lifetime{}, fmt.Errorf("probe: lifetime: want 0 < step <= max")
	}
	local := c.cfg.Local
	if !local.IsValid() {
		var err error
		if local, err = c.sourceFor(c.cfg.Introducer); err != nil {
			return Lifetime{}, fmt.Errorf("probe: %w", err)
		}
	}
	socks, mapped, err := c.openMappings(ctx, local, int(max/step))
	defer func() {
		for _, s := range socks {
			s.close()
		}
	}()
	if err != nil {
		return Lifetime{}, err
	}
	start := time.Now()
	for i, s := range socks {
		at := start.Add(time.Duration(i+1) * step)
		if err := sleepUntil(ctx, at); err != nil {
			return Lifetime{}, err
		}
		if !c.alive(ctx, local, s, mapped[i]) {
			return Lifetime{Min: time.Duration(i) * step, Max: time.Duration(i+1) * step}, nil
		}
	}
	return Lifetime{Min: time.Duration(len(socks)) * step}, nil
}

// openMappings opens n sockets and creates a mapping from each.
func (c *Client) openMappings(ctx context.Context, local netip.Addr, n int) ([]*sock, []netip.AddrPort, error) {
	var socks []*sock
	var mapped []netip.AddrPort
	for i := 0; i < n; i++ {
		s, err := c.openSock(local)
		if err != nil {
			return socks, nil, fmt.Errorf("probe: %w", err)
		}
		socks = append(socks, s)
		r := c.test(ctx, s, "lifetime", c.cfg.Introducer, 0)
		if !r.Answered {
			return socks, nil, fmt.Errorf("probe: %w: %s sent no answer", ErrNoIntroducer, c.cfg.Introducer)
		}
		mapped = append(mapped, r.Mapped)
	}
	return socks, mapped, nil
}

// alive asks the introducer, from a fresh socket, to answer to s's public
// port, and reports whether s receives it.
func (c *Client) alive(ctx context.Context, local netip.Addr, s *sock, mapped netip.AddrPort) bool {
	probe, err := c.openSock(local)
	if err != nil {
		return false
	}
	defer probe.close()
	req := bindingRequest(0)
	req.Add(stun.AttrResponsePort, stun.EncodeResponsePort(mapped.Port()))
	ch, done := s.await(req.TransactionID)
	defer done()
	b := req.Marshal(true)
	send := func() error { probe.conn.WriteToUDPAddrPort(b, c.cfg.Introducer); return nil }
	_, err = retransmit(ctx, send, ch, c.cfg.RTO, c.cfg.Timeout)
	return err == nil
}

func sleepUntil(ctx context.Context, at time.Time) error {
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
