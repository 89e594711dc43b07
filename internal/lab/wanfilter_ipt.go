//go:build linux

package lab

import "context"

// IPTFilterChain is the iptables chain (filter table) of a WANFilter on a
// router whose Backend is Iptables.
const IPTFilterChain = "LABWAN"

// iptWANVerdict is each WANFilter's verdict as iptables rules of
// IPTFilterChain: fw3's wan zone rejects with a RST for TCP and a port
// unreachable otherwise.
var iptWANVerdict = map[WANFilter][][]string{
	WANDrop: {{"-j", "DROP"}},
	WANReject: {{"-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"},
		{"-j", "REJECT", "--reject-with", "icmp-port-unreachable"}},
	WANProhibit: {{"-j", "REJECT", "--reject-with", "icmp-admin-prohibited"}},
}

// iptWANFilterSteps are the iptables commands (without the leading -w)
// that install f: the chain, its verdict, and a jump from INPUT and
// FORWARD for what comes in on the WAN and belongs to no connection the
// LAN or the router opened.
func iptWANFilterSteps(f WANFilter) [][]string {
	steps := [][]string{{"-N", IPTFilterChain}}
	for _, v := range iptWANVerdict[f] {
		steps = append(steps, append([]string{"-A", IPTFilterChain}, v...))
	}
	for _, hook := range []string{"INPUT", "FORWARD"} {
		steps = append(steps, []string{"-A", hook, "-i", wanIface, "-m", "conntrack", "!", "--ctstate",
			"ESTABLISHED,RELATED", "-j", IPTFilterChain})
	}
	return steps
}

// setupIPTWANFilter installs Config.WANFilter with iptables, as a router
// whose firewall is iptables (fw3) has it.
func (l *Lab) setupIPTWANFilter(ctx context.Context) error {
	for _, args := range iptWANFilterSteps(l.cfg.WANFilter) {
		if _, err := l.Router.Run(ctx, "iptables", append([]string{"-w"}, args...)...); err != nil {
			return err
		}
	}
	return nil
}
