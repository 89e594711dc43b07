//go:build linux

package lab

import (
	"context"
	"fmt"
)

// WANFilter is what the router's firewall does with new connections from
// the WAN to the router itself or through it (OpenWrt's wan zone input
// and forward policies). Connections the LAN opened always pass.
type WANFilter string

// The WAN filters.
const (
	// WANOpen, the zero value: no filter (the kernel answers an
	// unsolicited TCP SYN to a port nothing listens on with a RST).
	WANOpen WANFilter = ""
	// WANDrop drops new inbound connections silently.
	WANDrop WANFilter = "drop"
	// WANReject rejects them as OpenWrt's fw4 does: a RST for TCP, an
	// ICMP port unreachable otherwise.
	WANReject WANFilter = "reject"
	// WANProhibit rejects them with an ICMP administratively prohibited.
	WANProhibit WANFilter = "prohibit"
)

// NFTFilterTable is the nftables table (family inet) of a WANFilter.
const NFTFilterTable = "labfilter"

var wanVerdict = map[WANFilter]string{
	WANDrop:     "drop",
	WANReject:   "meta l4proto tcp reject with tcp reset\n\t\treject",
	WANProhibit: "reject with icmp type admin-prohibited",
}

// wanFilterScript is the nftables table of a WANFilter.
func wanFilterScript(f WANFilter) string {
	chain := func(name string) string {
		return fmt.Sprintf("\tchain %s {\n\t\ttype filter hook %s priority filter; policy accept;\n"+
			"\t\tct state established,related accept\n\t\tiifname %q jump wan\n\t}\n", name, name, wanIface)
	}
	return fmt.Sprintf("table inet %s {\n\tchain wan {\n\t\t%s\n\t}\n%s%s}\n",
		NFTFilterTable, wanVerdict[f], chain("input"), chain("forward"))
}

// setupWANFilter installs Config.WANFilter in the router namespace, with
// the tool of the router's Backend.
func (l *Lab) setupWANFilter(ctx context.Context) error {
	if l.cfg.WANFilter == WANOpen {
		return nil
	}
	// Every refusal answered: Linux limits ICMP errors to one a second
	// per destination after a burst of six, and a probe's UDP tests
	// would spend them before its TCP ones.
	if _, err := l.Router.Run(ctx, "sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0"); err != nil {
		return err
	}
	if l.cfg.Backend == Iptables {
		return l.setupIPTWANFilter(ctx)
	}
	script := wanFilterScript(l.cfg.WANFilter)
	l.cfg.logf("lab: nft script:\n%s", script)
	_, err := l.Router.runStdin(ctx, []byte(script), "nft", "-f", "-")
	return err
}
