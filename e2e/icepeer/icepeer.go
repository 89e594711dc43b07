// Package icepeer is one end of an ICE session (RFC 8445, pion/ice) whose
// signalling goes through a reader and a writer: it gathers host, server
// reflexive and relayed candidates, writes its Offer as one JSON line,
// reads the other end's Offer, connects, checks the selected pair with a
// ping and a pong, and writes its Result as a last JSON line. The
// icepeer command runs it on stdin and stdout inside a lab host, and
// package icelab drives two of them.
package icepeer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
)

// Config is one end's part of a session.
type Config struct {
	Controlling bool   // the controlling agent nominates the pair (RFC 8445 section 6.1.1)
	STUN        string // host:port of the STUN server (server reflexive candidates); "" for none
	TURN        string // host:port of the TURN server (relayed candidates, UDP); "" for none
	User, Pass  string // the TURN server's long-term credentials

	// GatherTimeout bounds candidate gathering; ConnectTimeout the
	// connectivity checks up to a selected pair; EchoTimeout the ping and
	// pong over it.
	GatherTimeout, ConnectTimeout, EchoTimeout time.Duration
}

// Offer is what one end tells the other: its credentials and candidates
// (in SDP attribute syntax, RFC 8839 section 5.1).
type Offer struct {
	Ufrag      string   `json:"ufrag"`
	Pwd        string   `json:"pwd"`
	Candidates []string `json:"candidates"`
}

// Candidate is one end of the selected pair.
type Candidate struct {
	Type string `json:"type"` // host, srflx, prflx or relay
	Addr string `json:"addr"` // ip:port
}

// Result is what one end saw of the session.
type Result struct {
	Local    Candidate `json:"local"`
	Remote   Candidate `json:"remote"`
	Gathered []string  `json:"gathered"`   // local candidate types, in gathering order
	GatherMS int64     `json:"gather_ms"`  // gathering time
	Connect  int64     `json:"connect_ms"` // from the remote offer to a selected pair
	Echo     bool      `json:"echo"`       // a ping crossed the pair and its pong came back (controlled: a ping arrived)
	Error    string    `json:"error,omitempty"`
}

// Run runs one end of a session: it writes its Offer and then its Result
// to out, each as one JSON line, and reads the remote Offer from in. The
// controlled end keeps answering pings until in ends (or ConnectTimeout
// passes once more), so that the controlling end's pong is not lost. A
// Result is written whenever the Offer was; its Error says what failed,
// and Run returns that error too.
func Run(ctx context.Context, cfg Config, in io.Reader, out io.Writer) error {
	agent, err := newAgent(cfg)
	if err != nil {
		return fmt.Errorf("icepeer: %w", err)
	}
	defer agent.Close()
	var res Result
	offer, err := gather(agent, cfg.GatherTimeout, &res)
	if err != nil {
		return fmt.Errorf("icepeer: %w", err)
	}
	enc, lines := json.NewEncoder(out), bufio.NewScanner(in)
	if err := enc.Encode(offer); err != nil {
		return fmt.Errorf("icepeer: writing the offer: %w", err)
	}
	err = session(ctx, agent, cfg, lines, &res)
	if err != nil {
		res.Error = err.Error()
	}
	if werr := enc.Encode(res); werr != nil {
		err = errors.Join(err, werr)
	}
	if err != nil {
		return fmt.Errorf("icepeer: %w", err)
	}
	if !cfg.Controlling {
		drain(lines, cfg.ConnectTimeout)
	}
	return nil
}

func newAgent(cfg Config) (*ice.Agent, error) {
	var urls []*stun.URI
	for _, u := range []struct{ scheme, addr string }{{"stun", cfg.STUN}, {"turn", cfg.TURN}} {
		if u.addr == "" {
			continue
		}
		uri, err := stun.ParseURI(u.scheme + ":" + u.addr)
		if err != nil {
			return nil, err
		}
		uri.Username, uri.Password = cfg.User, cfg.Pass
		urls = append(urls, uri)
	}
	types := []ice.CandidateType{ice.CandidateTypeHost, ice.CandidateTypeServerReflexive, ice.CandidateTypeRelay}
	return ice.NewAgentWithOptions(
		ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeUDP4}),
		ice.WithCandidateTypes(types),
		ice.WithUrls(urls),
		ice.WithMulticastDNSMode(ice.MulticastDNSModeDisabled),
		ice.WithSTUNGatherTimeout(cfg.GatherTimeout),
	)
}

// gather collects the local candidates until gathering completes or
// timeout passes, and returns the Offer.
func gather(agent *ice.Agent, timeout time.Duration, res *Result) (Offer, error) {
	var offer Offer
	cands, done := make(chan ice.Candidate, 64), make(chan struct{})
	err := agent.OnCandidate(func(c ice.Candidate) {
		if c == nil {
			close(done)
			return
		}
		cands <- c
	})
	if err != nil {
		return offer, err
	}
	start := time.Now()
	if err := agent.GatherCandidates(); err != nil {
		return offer, err
	}
	select {
	case <-done:
	case <-time.After(timeout):
	}
	res.GatherMS = time.Since(start).Milliseconds()
	for len(cands) > 0 {
		c := <-cands
		offer.Candidates = append(offer.Candidates, c.Marshal())
		res.Gathered = append(res.Gathered, c.Type().String())
	}
	offer.Ufrag, offer.Pwd, err = agent.GetLocalUserCredentials()
	return offer, err
}

// session reads the remote offer, connects and checks the selected pair.
func session(ctx context.Context, agent *ice.Agent, cfg Config, lines *bufio.Scanner, res *Result) error {
	remote, err := readOffer(lines)
	if err != nil {
		return err
	}
	for _, raw := range remote.Candidates {
		c, err := ice.UnmarshalCandidate(raw)
		if err != nil {
			return fmt.Errorf("remote candidate %q: %w", raw, err)
		}
		if err := agent.AddRemoteCandidate(c); err != nil {
			return err
		}
	}
	start := time.Now()
	conn, err := connect(ctx, agent, cfg, remote)
	res.Connect = time.Since(start).Milliseconds()
	if err != nil {
		return fmt.Errorf("no connection within %v: %w", cfg.ConnectTimeout, err)
	}
	pair, err := agent.GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return fmt.Errorf("connected without a selected pair: %v", err)
	}
	res.Local, res.Remote = candidate(pair.Local), candidate(pair.Remote)
	res.Echo, err = echo(conn, cfg)
	return err
}

func readOffer(lines *bufio.Scanner) (Offer, error) {
	var o Offer
	if !lines.Scan() {
		return o, fmt.Errorf("no remote offer: %v", lines.Err())
	}
	if err := json.Unmarshal(lines.Bytes(), &o); err != nil {
		return o, fmt.Errorf("remote offer: %w", err)
	}
	return o, nil
}

func connect(ctx context.Context, agent *ice.Agent, cfg Config, remote Offer) (*ice.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	if cfg.Controlling {
		return agent.Dial(ctx, remote.Ufrag, remote.Pwd)
	}
	return agent.Accept(ctx, remote.Ufrag, remote.Pwd)
}

func candidate(c ice.Candidate) Candidate {
	return Candidate{Type: c.Type().String(), Addr: fmt.Sprintf("%s:%d", c.Address(), c.Port())}
}

var ping, pong = []byte("natp2p ping"), []byte("natp2p pong")

// echo: the controlling end pings every 100 ms until a pong comes back;
// the controlled end waits for a ping and answers every ping from then on
// (in the background, until the agent closes).
func echo(conn *ice.Conn, cfg Config) (bool, error) {
	deadline := time.Now().Add(cfg.EchoTimeout)
	buf := make([]byte, 1500)
	for time.Now().Before(deadline) {
		if cfg.Controlling {
			if _, err := conn.Write(ping); err != nil {
				return false, fmt.Errorf("ping: %w", err)
			}
		}
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := conn.Read(buf)
		switch {
		case err != nil:
			continue
		case cfg.Controlling && string(buf[:n]) == string(pong):
			return true, nil
		case !cfg.Controlling && string(buf[:n]) == string(ping):
			go answer(conn)
			_, err := conn.Write(pong)
			return err == nil, err
		}
	}
	return false, fmt.Errorf("no echo over the selected pair within %v", cfg.EchoTimeout)
}

// answer answers pings until the connection closes.
func answer(conn *ice.Conn) {
	buf := make([]byte, 1500)
	_ = conn.SetReadDeadline(time.Time{})
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		if string(buf[:n]) == string(ping) {
			_, _ = conn.Write(pong)
		}
	}
}

// drain waits until in ends or limit passes.
func drain(lines *bufio.Scanner, limit time.Duration) {
	done := make(chan struct{})
	go func() {
		for lines.Scan() {
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(limit):
	}
}
