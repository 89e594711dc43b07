package probe

import (
	"context"
	"errors"
	"net/netip"
	"sync"

	"github.com/natp2p/natp2p/probe/stun"
)

// mapping runs RFC 5780 4.3 tests II and III on the first test's socket.
func (c *Client) mapping(ctx context.Context, r *Report, s1 *sock, first result) []Test {
	altIP := netip.AddrPortFrom(r.Other.Addr(), r.Introducer.Port())
	var ii, iii result
	both(func() { ii = c.test(ctx, s1, "mapping II", altIP, 0) },
		func() { iii = c.test(ctx, s1, "mapping III", r.Other, 0) })
	r.Mapping = mappingBehaviour(first.Test, ii.Test, iii.Test)
	return []Test{ii.Test, iii.Test}
}

// twoServerMapping compares the first test's mapping with what a second
// server saw from the same socket (the fallback for servers without RFC
// 5780).
func (c *Client) twoServerMapping(ctx context.Context, r *Report, s1 *sock, first result) []Test {
	ii := c.test(ctx, s1, "mapping II (second server)", c.cfg.Second, 0)
	switch {
	case !ii.Answered:
		r.Mapping = Unknown
	case ii.Mapped == first.Mapped:
		r.Mapping = EndpointIndependent
	default:
		r.Mapping = AddressDependent // at least
	}
	return []Test{ii.Test}
}

// filtering runs RFC 5780 4.4 tests II and III on a fresh socket that
// sends only to the primary address.
func (c *Client) filtering(ctx context.Context, r *Report) []Test {
	s2, err := c.openSock(c.cfg.Local)
	if err != nil {
		return []Test{{Name: "filtering", Proto: "udp", Error: err.Error()}}
	}
	defer s2.close()
	var ii, iii result
	both(func() { ii = c.test(ctx, s2, "filtering II", r.Introducer, stun.ChangeIP|stun.ChangePort) },
		func() { iii = c.test(ctx, s2, "filtering III", r.Introducer, stun.ChangePort) })
	r.Filtering = filteringBehaviour(ii.Test, iii.Test, r.Introducer, r.Other)
	return []Test{ii.Test, iii.Test}
}

// hairpin sends, from a third socket, a Binding request to the first
// socket's public mapping, and watches the first socket for it (RFC 5780
// 4.5).
func (c *Client) hairpin(ctx context.Context, r *Report, s1 *sock) []Test {
	s3, err := c.openSock(c.cfg.Local)
	if err != nil {
		return []Test{{Name: "hairpin", Proto: "udp", Error: err.Error()}}
	}
	defer s3.close()
	req := bindingRequest(0)
	got := s1.expectRequest(req.TransactionID)
	t := Test{Name: "hairpin", Proto: "udp", Local: s3.local(), To: r.Public}
	b := req.Marshal(true)
	send := func() error { s3.conn.WriteToUDPAddrPort(b, r.Public); return nil } // a NAT may refuse: no answer
	from, err := retransmit(ctx, send, got, c.cfg.RTO, c.cfg.Timeout)
	switch {
	case err == nil:
		t.Answered, t.From = true, from
		r.Hairpin = ptr(true)
	case errors.Is(err, errNoAnswer):
		r.Hairpin = ptr(false)
	}
	return []Test{t}
}

// both runs f and g concurrently and waits for them.
func both(f, g func()) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f() }()
	go func() { defer wg.Done(); g() }()
	wg.Wait()
}
