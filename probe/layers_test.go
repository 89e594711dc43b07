package probe

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAttribute(t *testing.T) {
	wanAddr := netip.MustParseAddr("100.64.0.2")
	eim, apdm, apdf := EndpointIndependent, AddressAndPortDependent, AddressAndPortDependent
	tests := []struct {
		name     string
		lan, wan Report
		upstream bool
		want     []Layer
		culprit  string
	}{
		{"no upstream NAT: the router's own",
			Report{Mapping: apdm, TCPMapping: apdm, Filtering: apdf},
			Report{Public: ap("100.64.0.2:5000"), Mapping: apdm},
			false, []Layer{{Name: LayerRouter, Mapping: apdm, TCPMapping: apdm, Filtering: apdf}}, LayerRouter},
		{"upstream NAT that keeps mappings: the router breaks them",
			Report{Mapping: apdm, TCPMapping: eim, Filtering: apdf},
			Report{Public: ap("203.0.113.1:5000"), Mapping: eim, TCPMapping: eim, Filtering: apdf},
			true, []Layer{{Name: LayerRouter, Mapping: apdm, TCPMapping: eim, Filtering: Unknown},
				{Name: LayerUpstream, Mapping: eim, TCPMapping: eim, Filtering: apdf}}, LayerRouter},
		{"upstream NAT that breaks them hides the router's",
			Report{Mapping: apdm, TCPMapping: apdm, Filtering: apdf},
			Report{Public: ap("203.0.113.1:5000"), Mapping: apdm, TCPMapping: apdm, Filtering: apdf},
			true, []Layer{{Name: LayerRouter, Mapping: Unknown, TCPMapping: Unknown, Filtering: Unknown},
				{Name: LayerUpstream, Mapping: apdm, TCPMapping: apdm, Filtering: apdf}}, LayerUpstream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lan := tt.lan
			Attribute(&lan, &tt.wan, wanAddr)
			if lan.UpstreamNAT == nil || *lan.UpstreamNAT != tt.upstream {
				t.Errorf("upstream NAT %v, want %v", lan.UpstreamNAT, tt.upstream)
			}
			if diff := cmp.Diff(tt.want, lan.Layers); diff != "" {
				t.Errorf("layers (-want +got):\n%s", diff)
			}
			if got := lan.Culprit(false); got != tt.culprit {
				t.Errorf("culprit %q, want %q", got, tt.culprit)
			}
		})
	}
	var lan Report
	Attribute(&lan, nil, wanAddr)
	if lan.UpstreamNAT != nil || lan.Layers != nil {
		t.Error("without a WAN probe the layers are not unknown")
	}
}
