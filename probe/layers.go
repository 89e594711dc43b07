package probe

import "net/netip"

// Layer is one NAT on the path and the behaviours the probes attribute to
// it. A behaviour the layer above masks is Unknown.
type Layer struct {
	_ [0]func() // not comparable, as Test: no equality functions

	Name       string    `json:"name"` // "this router" or "upstream"
	Mapping    Behaviour `json:"mapping"`
	TCPMapping Behaviour `json:"tcp_mapping"`
	Filtering  Behaviour `json:"filtering"`
}

// The layer names.
const (
	LayerRouter   = "this router"
	LayerUpstream = "upstream"
)

// Attribute splits what a LAN-side probe saw between this router and an
// upstream NAT, using a probe sent from the router's WAN address (which
// only the upstream NAT translates). It sets lan.UpstreamNAT and
// lan.Layers. A nil wan leaves them unknown.
func Attribute(lan, wan *Report, wanAddr netip.Addr) {
	if lan == nil || wan == nil || !wan.Public.IsValid() {
		return
	}
	upstream := wan.Public.Addr() != wanAddr
	lan.UpstreamNAT = ptr(upstream)
	if !upstream {
		lan.Layers = []Layer{{Name: LayerRouter, Mapping: lan.Mapping, TCPMapping: lan.TCPMapping, Filtering: lan.Filtering}}
		return
	}
	lan.Layers = []Layer{
		{Name: LayerRouter, Mapping: own(lan.Mapping, wan.Mapping), TCPMapping: own(lan.TCPMapping, wan.TCPMapping),
			Filtering: Unknown}, // the upstream filter decides what reaches the router at all
		{Name: LayerUpstream, Mapping: wan.Mapping, TCPMapping: wan.TCPMapping, Filtering: wan.Filtering},
	}
}

// own is this router's behaviour given the whole path's and the upstream
// NAT's: when the upstream one is endpoint-independent, the path's is the
// router's; when it is not, the router's is hidden behind it.
func own(path, upstream Behaviour) Behaviour {
	if upstream == EndpointIndependent {
		return path
	}
	return Unknown
}

// Culprit names the layer that breaks a behaviour the whole path shows:
// upstream when the upstream NAT shows it too, else this router. Without
// layers it returns "".
func (r *Report) Culprit(tcp bool) string {
	for i := len(r.Layers) - 1; i >= 0; i-- { // upstream first
		l := r.Layers[i]
		m := l.Mapping
		if tcp {
			m = l.TCPMapping
		}
		if m != EndpointIndependent && m != Unknown {
			return l.Name
		}
	}
	if len(r.Layers) > 0 {
		return LayerRouter
	}
	return ""
}
