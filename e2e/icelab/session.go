//go:build linux

package icelab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/natp2p/natp2p/e2e/icepeer"
	"github.com/natp2p/natp2p/internal/lab"
)

// Session is how two icepeers meet: the STUN server (natp2p-introducer)
// and the TURN relay (coturn) they use, and the bounds of each phase.
type Session struct {
	Peer       string         // the icepeer binary
	STUN, TURN netip.AddrPort // TURN zero: no relayed candidates
	User, Pass string         // TURN credentials

	// Gather, Connect and Echo bound the phases (icepeer.Config); zero
	// means 3 s, 8 s and 2 s.
	Gather, Connect, Echo time.Duration
	// Logf, if non-nil, receives both ends' stderr.
	Logf func(format string, args ...any)
}

// Outcome is what both ends of a session reported.
type Outcome struct {
	Controlling, Controlled icepeer.Result
}

// Relayed reports whether the controlling end's selected pair goes
// through the TURN relay on either side.
func (o Outcome) Relayed() bool {
	return o.Controlling.Local.Type == "relay" || o.Controlling.Remote.Type == "relay"
}

// Pair is the controlling end's selected pair, "local <-> remote" by
// candidate type, e.g. "srflx <-> prflx".
func (o Outcome) Pair() string {
	return o.Controlling.Local.Type + " <-> " + o.Controlling.Remote.Type
}

// String is one line for logs and the demo.
func (o Outcome) String() string {
	path := "direct"
	if o.Relayed() {
		path = "relayed"
	}
	c := o.Controlling
	return fmt.Sprintf("%s (%s, %s <-> %s), connected in %d ms", path, o.Pair(), c.Local.Addr, c.Remote.Addr, c.Connect)
}

// Run runs one session between a (controlling) and b (controlled), each
// an icepeer in a lab namespace, and returns both ends' results. A session
// that ran but did not connect returns the Outcome and an error naming
// what failed. Both processes are gone when Run returns.
func (s Session) Run(ctx context.Context, a, b *lab.NS) (Outcome, error) {
	s = s.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, s.Gather+2*s.Connect+s.Echo+5*time.Second)
	defer cancel()
	pa, err := s.start(ctx, a, true)
	if err != nil {
		return Outcome{}, err
	}
	defer pa.stop()
	pb, err := s.start(ctx, b, false)
	if err != nil {
		return Outcome{}, err
	}
	defer pb.stop()
	out, err := exchange(pa, pb)
	if err == nil {
		err = out.check()
	}
	for _, p := range []*peer{pa, pb} {
		p.stop()
		s.logf("icelab: %s: stderr:\n%s", p.ns.Name, p.stderr.String())
	}
	return out, err
}

func (s Session) withDefaults() Session {
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&s.Gather, 3 * time.Second}, {&s.Connect, 8 * time.Second}, {&s.Echo, 2 * time.Second}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if s.Logf == nil {
		s.Logf = func(string, ...any) {}
	}
	return s
}

func (s Session) logf(format string, args ...any) { s.Logf(format, args...) }

// peer is one running icepeer.
type peer struct {
	ns     *lab.NS
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr lockedBuffer
	waited chan error
}

func (s Session) start(ctx context.Context, ns *lab.NS, controlling bool) (*peer, error) {
	args := []string{"--stun", s.STUN.String(), "--gather-timeout", s.Gather.String(),
		"--connect-timeout", s.Connect.String(), "--echo-timeout", s.Echo.String()}
	if s.TURN.IsValid() {
		args = append(args, "--turn", s.TURN.String(), "--user", s.User, "--pass", s.Pass)
	}
	if controlling {
		args = append(args, "--controlling")
	}
	p := &peer{ns: ns, cmd: ns.Command(ctx, s.Peer, args...), waited: make(chan error, 1)}
	p.cmd.Stderr, p.cmd.WaitDelay = &p.stderr, 2*time.Second
	in, err := p.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.in, p.out = in, bufio.NewScanner(out)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("icelab: starting icepeer in %s: %w", ns.Name, err)
	}
	go func() { p.waited <- p.cmd.Wait() }()
	return p, nil
}

// stop closes the peer's stdin and waits for it (ctx kills it at the
// latest); it may be called more than once.
func (p *peer) stop() {
	p.in.Close()
	select {
	case err := <-p.waited:
		p.waited <- err
	case <-time.After(30 * time.Second): // not reached: ctx and WaitDelay end it sooner
	}
}

// exchange hands each peer the other's offer and reads both results.
func exchange(a, b *peer) (Outcome, error) {
	var offers [2][]byte
	for i, p := range []*peer{a, b} {
		line, err := p.line("offer")
		if err != nil {
			return Outcome{}, err
		}
		offers[i] = line
	}
	for i, p := range []*peer{b, a} {
		if _, err := p.in.Write(append(offers[i], '\n')); err != nil {
			return Outcome{}, fmt.Errorf("icelab: passing the offer to %s: %w", p.ns.Name, err)
		}
	}
	var out Outcome
	results := []*icepeer.Result{&out.Controlling, &out.Controlled}
	errc := make(chan error, 2)
	for i, p := range []*peer{a, b} {
		go func() { errc <- p.result(results[i]) }()
	}
	return out, errors.Join(<-errc, <-errc)
}

// line reads the peer's next JSON line.
func (p *peer) line(what string) ([]byte, error) {
	if p.out.Scan() {
		return append([]byte(nil), p.out.Bytes()...), nil
	}
	return nil, fmt.Errorf("icelab: no %s from the icepeer in %s (%v): %s", what, p.ns.Name, p.out.Err(),
		strings.TrimSpace(p.stderr.String()))
}

func (p *peer) result(r *icepeer.Result) error {
	line, err := p.line("result")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(line, r); err != nil {
		return fmt.Errorf("icelab: result from %s: %w", p.ns.Name, err)
	}
	return nil
}

// check turns a result's error or a missing echo into an error.
func (o Outcome) check() error {
	var errs []error
	for _, r := range []struct {
		end string
		res icepeer.Result
	}{{"controlling", o.Controlling}, {"controlled", o.Controlled}} {
		switch {
		case r.res.Error != "":
			errs = append(errs, fmt.Errorf("icelab: %s end: %s", r.end, r.res.Error))
		case !r.res.Echo:
			errs = append(errs, fmt.Errorf("icelab: %s end: no echo over the selected pair", r.end))
		}
	}
	return errors.Join(errs...)
}

// lockedBuffer is a bytes.Buffer that a process writes while Run reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
