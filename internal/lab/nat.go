//go:build linux

package lab

import (
	"context"
	"fmt"
)

// NFTTable is the nftables table (family ip) holding the lab's NAT chain.
const NFTTable = "labnat"

// natRule is the nftables postrouting rule of each profile.
var natRule = map[NAT]string{
	Masquerade:            `oifname "wan0" masquerade`,
	MasqueradeFullyRandom: `oifname "wan0" masquerade fully-random`,
	SNATPool:              `oifname "wan0" snat ip to 203.0.113.1-203.0.113.2`,
	NoNAT:                 ``, // no NAT rule; see nftForward
	DMZ:                   `oifname "wan0" masquerade`,
	DoubleNAT:             `oifname "wan0" masquerade`,
}

// dmzHost is where DMZ sends unsolicited inbound traffic: the first LAN
// host.
var dmzHost = siteA.host(0)

// iptablesRule is the iptables rule of each profile.
var iptablesRule = map[NAT][]string{
	Masquerade:            {"-t", "nat", "-A", "POSTROUTING", "-o", wanIface, "-j", "MASQUERADE"},
	MasqueradeFullyRandom: {"-t", "nat", "-A", "POSTROUTING", "-o", wanIface, "-j", "MASQUERADE", "--random-fully"},
	SNATPool: {"-t", "nat", "-A", "POSTROUTING", "-o", wanIface, "-j", "SNAT",
		"--to-source", "203.0.113.1-203.0.113.2"},
	// No NAT; the conntrack match makes the namespace track connections.
	NoNAT:     {"-A", "FORWARD", "-m", "conntrack", "--ctstate", "NEW,ESTABLISHED,RELATED", "-j", "ACCEPT"},
	DMZ:       {"-t", "nat", "-A", "POSTROUTING", "-o", wanIface, "-j", "MASQUERADE"},
	DoubleNAT: {"-t", "nat", "-A", "POSTROUTING", "-o", wanIface, "-j", "MASQUERADE"},
}

// iptablesDMZ is DMZ's inbound rule.
var iptablesDMZ = []string{"-t", "nat", "-A", "PREROUTING", "-i", wanIface, "-p", "udp", "-j", "DNAT",
	"--to-destination", dmzHost.String()}

// nftForward mirrors the iptables NoNAT rule: an empty nat chain does not
// enable conntrack in a namespace, a ct expression does.
const nftForward = "\tchain forward {\n" +
	"\t\ttype filter hook forward priority filter; policy accept;\n" +
	"\t\tct state new,established,related accept\n\t}\n"

func nftScript(n NAT) string {
	rule, extra := "", ""
	if r := natRule[n]; r != "" {
		rule = "\t\t" + r + "\n"
	}
	switch n {
	case NoNAT:
		extra = nftForward
	case DMZ:
		extra = "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n" +
			"\t\tiifname \"wan0\" meta l4proto { udp, tcp } dnat ip to " + dmzHost.String() + "\n\t}\n"
	}
	return natTable(rule, extra)
}

func natTable(rule, extra string) string {
	return fmt.Sprintf("table ip %s {\n\tchain postrouting {\n"+
		"\t\ttype nat hook postrouting priority srcnat; policy accept;\n%s\t}\n%s}\n",
		NFTTable, rule, extra)
}

// setupNAT installs the NAT profile in the router namespace.
func (l *Lab) setupNAT(ctx context.Context) error {
	return l.First().setupNAT(ctx)
}

// setupNAT installs the site's NAT profile in its router namespace and,
// in a two-router lab, drops new inbound traffic on its WAN.
func (s *Site) setupNAT(ctx context.Context) error {
	if err := s.installNAT(ctx); err != nil {
		return err
	}
	if s.lab.cfg.Second == nil {
		return nil
	}
	return s.dropNewFromWAN(ctx)
}

func (s *Site) installNAT(ctx context.Context) error {
	if s.Backend == Iptables {
		if s.NAT == DMZ {
			if _, err := s.Router.Run(ctx, "iptables", append([]string{"-w"}, iptablesDMZ...)...); err != nil {
				return err
			}
		}
		args := append([]string{"-w"}, iptablesRule[s.NAT]...)
		_, err := s.Router.Run(ctx, "iptables", args...)
		return err
	}
	script := nftScript(s.NAT)
	s.lab.cfg.logf("lab: nft script:\n%s", script)
	_, err := s.Router.runStdin(ctx, []byte(script), "nft", "-f", "-")
	return err
}

// nftWANInput drops new inbound traffic on the WAN, as the WAN zone of
// OpenWrt's firewall does (there with a reject).
var nftWANInput = fmt.Sprintf("table ip %s {\n\tchain input {\n"+
	"\t\ttype filter hook input priority filter; policy accept;\n"+
	"\t\tiifname \"%s\" ct state new drop\n\t}\n}\n", NFTTable, wanIface)

// iptablesWANInput is nftWANInput for the iptables backend.
var iptablesWANInput = []string{"-w", "-A", "INPUT", "-i", wanIface, "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"}

// dropNewFromWAN keeps inbound traffic that matches no connection from
// reaching the router's own stack: there it would become a confirmed
// conntrack entry and take the tuple a LAN host's outbound flow needs (see
// DESIGN.md, "Unsolicited inbound can steal a mapping").
func (s *Site) dropNewFromWAN(ctx context.Context) error {
	if s.Backend == Iptables {
		_, err := s.Router.Run(ctx, "iptables", iptablesWANInput...)
		return err
	}
	_, err := s.Router.runStdin(ctx, []byte(nftWANInput), "nft", "-f", "-")
	return err
}
