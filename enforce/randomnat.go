package enforce

// randomNATer is a Backend that pins too late for a second destination
// sent at once, and so tells whether the router's NAT then picks another
// port at random.
type randomNATer interface{ RandomNAT() (bool, error) }

// lookAtRouterNAT records whether the router's NAT defeats late pins.
func (e *Enforcer) lookAtRouterNAT() {
	r, ok := e.cfg.Backend.(randomNATer)
	if !ok {
		return
	}
	random, err := r.RandomNAT()
	if err != nil {
		e.log.Debug("cannot read the router's NAT rules", "err", err)
		return
	}
	if random && !e.randomNAT {
		e.log.Warn("the router's NAT allocates ports fully at random: with the iptables backend, a flow sent to a " +
			"second destination within milliseconds of an endpoint's first gets another port (set preserve_ports)")
	}
	e.randomNAT = random
}
