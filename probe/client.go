package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/natp2p/natp2p/probe/stun"
)

// Defaults of Config's durations. RFC 8489 recommends an RTO of 500 ms
// for unknown paths; a probe waits for answers that a NAT may rightly
// drop, so it retransmits sooner and gives up after Timeout.
const (
	DefaultRTO     = 200 * time.Millisecond
	DefaultTimeout = 1 * time.Second
)

// Config configures a Client.
type Config struct {
	// Introducer is the introducer's primary address and port. Required.
	Introducer netip.AddrPort
	// Local is the address to send from (a vantage point). If invalid,
	// the kernel picks by route.
	Local netip.Addr
	// RTO is the first retransmission timeout. If zero, DefaultRTO.
	RTO time.Duration
	// Timeout is how long a test waits for its answer. If zero,
	// DefaultTimeout. A whole probe takes about two of them at most.
	Timeout time.Duration
	// NoTCP skips the TCP mapping test.
	NoTCP bool
	// Second is another STUN server, on another address, for an
	// introducer without RFC 5780 (no OTHER-ADDRESS): the mapping test then
	// compares what the two servers saw. Two servers tell endpoint-
	// independent mapping from the rest, not address- from
	// address-and-port-dependent: a difference is reported as
	// address-dependent, the least it can be. Filtering stays unknown.
	Second netip.AddrPort
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// Enter, if non-nil, runs each function that creates one of the
	// probe's sockets (UDP and TCP) and returns its error. A socket
	// belongs to the network namespace of the thread that created it, so
	// the agent's LAN-side vantage point passes a func that runs create
	// inside its namespace. If nil, sockets are created as usual.
	Enter func(create func() error) error
}

// Client runs probes. Run may be called concurrently: every run has sockets
// of its own.
type Client struct{ cfg Config }

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if !cfg.Introducer.IsValid() || !cfg.Introducer.Addr().Unmap().Is4() {
		return nil, errors.New("probe: the introducer must be an IPv4 address and port")
	}
	if cfg.RTO <= 0 {
		cfg.RTO = DefaultRTO
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg}, nil
}

// ErrNoIntroducer: the introducer did not answer the first request.
var ErrNoIntroducer = errors.New("the introducer did not answer")

// Run probes the NAT between here and the introducer. It fails only when
// the introducer does not answer at all; tests that cannot run leave
// their fields unknown.
func (c *Client) Run(ctx context.Context) (*Report, error) {
	run := *c // Run may fill in the local address: on a copy, for concurrent runs
	return run.run(ctx)
}

func (c *Client) run(ctx context.Context) (*Report, error) {
	start := c.cfg.Now()
	r := &Report{Schema: Schema, GeneratedAt: start.UTC(), Introducer: c.cfg.Introducer,
		Mapping: Unknown, Filtering: Unknown, TCPMapping: Unknown, TCPUnsolicited: UnsolicitedUnknown, Layers: []Layer{}}
	if !c.cfg.Local.IsValid() {
		local, err := c.sourceFor(c.cfg.Introducer)
		if err != nil {
			return nil, fmt.Errorf("probe: no route to the introducer %s: %w", c.cfg.Introducer, err)
		}
		c.cfg.Local = local
	}
	s1, err := c.openSock(c.cfg.Local)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	defer s1.close()
	first := c.test(ctx, s1, "mapping I", c.cfg.Introducer, 0)
	r.Tests = append(r.Tests, first.Test)
	if !first.Answered {
		return nil, fmt.Errorf("probe: %w: %s sent no answer within %v", ErrNoIntroducer, c.cfg.Introducer, c.cfg.Timeout)
	}
	c.fromFirst(r, first)
	c.runParallel(ctx, r, s1, first)
	r.Duration = c.cfg.Now().Sub(start)
	return r, nil
}

// enter creates a socket with create, through Config.Enter when set.
func (c *Client) enter(create func() error) error {
	if c.cfg.Enter == nil {
		return create()
	}
	return c.cfg.Enter(create)
}

// openSock opens one UDP socket of the probe (see openSock).
func (c *Client) openSock(local netip.Addr) (*sock, error) {
	var s *sock
	err := c.enter(func() (err error) { s, err = openSock(local); return err })
	return s, err
}

// sourceFor returns the local address the kernel would send from to dst
// (a connected UDP socket sends nothing).
func (c *Client) sourceFor(dst netip.AddrPort) (netip.Addr, error) {
	var conn *net.UDPConn
	err := c.enter(func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
		return err
	})
	if err != nil {
		return netip.Addr{}, err
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// fromFirst fills what the first answer alone tells.
func (c *Client) fromFirst(r *Report, first result) {
	r.Local, r.Public = first.Local, first.Mapped
	r.Other = first.other
	r.PortPreservation = ptr(first.Local.Port() == first.Mapped.Port())
	r.NAT = ptr(first.Local != first.Mapped)
	if first.plainMapped.IsValid() {
		r.ALG = ptr(first.plainMapped != first.Mapped)
	}
}

// runParallel runs the tests that need the first answer, concurrently.
// Each test writes only its own fields of r (Mapping, Filtering, ...);
// r.Tests is appended under mu.
func (c *Client) runParallel(ctx context.Context, r *Report, s1 *sock, first result) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	add := func(f func() []Test) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tests := f()
			mu.Lock()
			r.Tests = append(r.Tests, tests...)
			mu.Unlock()
		}()
	}
	if !r.Other.IsValid() && c.cfg.Second.IsValid() {
		add(func() []Test { return c.twoServerMapping(ctx, r, s1, first) })
	}
	if r.Other.IsValid() {
		add(func() []Test { return c.mapping(ctx, r, s1, first) })
		add(func() []Test { return c.filtering(ctx, r) })
		add(func() []Test { return c.punchUDP(ctx, r) })
		if !c.cfg.NoTCP {
			add(func() []Test { return c.tcpMapping(ctx, r) })
			add(func() []Test { return c.unsolicited(ctx, r) })
			add(func() []Test { return c.punchTCP(ctx, r) })
		}
	}
	add(func() []Test { return c.hairpin(ctx, r, s1) })
	wg.Wait()
}

// result is a Test with what the analysis needs beyond it.
type result struct {
	Test
	other       netip.AddrPort // OTHER-ADDRESS or CHANGED-ADDRESS
	plainMapped netip.AddrPort // MAPPED-ADDRESS, when sent beside XOR-MAPPED-ADDRESS
}

// test runs one UDP Binding transaction.
func (c *Client) test(ctx context.Context, s *sock, name string, to netip.AddrPort, change uint32) result {
	res := result{Test: Test{Name: name, Proto: "udp", Local: s.local(), To: to, Change: changeName(change)}}
	rep, err := s.exchange(ctx, bindingRequest(change), to, c.cfg.RTO, c.cfg.Timeout)
	if err != nil {
		if !errors.Is(err, errNoAnswer) {
			res.Error = err.Error()
		}
		return res
	}
	res.fill(rep.msg, rep.from)
	return res
}

// fill reads a response's addresses.
func (res *result) fill(msg *stun.Message, from netip.AddrPort) {
	res.From = from
	mapped, xor, err := msg.Mapped()
	if err != nil || msg.Type != stun.TypeBindingSuccess {
		res.Error = fmt.Sprintf("unusable response (type 0x%04x): %v", msg.Type, err)
		return
	}
	res.Answered, res.Mapped = true, mapped
	if xor {
		res.plainMapped, _ = msg.Address(stun.AttrMappedAddress)
	}
	if o, err := msg.Address(stun.AttrOtherAddress); err == nil {
		res.other = o
	} else if o, err := msg.Address(stun.AttrChangedAddress); err == nil {
		res.other = o
	}
}

func changeName(change uint32) string {
	switch change {
	case stun.ChangeIP | stun.ChangePort:
		return "ip+port"
	case stun.ChangeIP:
		return "ip"
	case stun.ChangePort:
		return "port"
	}
	return ""
}
