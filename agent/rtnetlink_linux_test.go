//go:build linux

package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// nlattr is one rtnetlink attribute holding data (see b), padded.
func nlattr(typ uint16, data ...any) []byte {
	d := b(data...)
	return b(u16v(4+len(d)), u16v(typ), d, make([]byte, -len(d)&3))
}

// TestLinkDecode reads RTM_NEWLINK bodies as the kernel sends them (in
// host byte order, so also on big-endian MIPS), nested IFLA_LINKINFO
// included. Slave data of another kind than a bridge port's is not read
// as one.
func TestLinkDecode(t *testing.T) {
	mac := []byte{0x02, 0x6e, 0x70, 0, 0, 1}
	tests := []struct {
		name string
		body []byte
		want link
	}{{
		name: "bridge with STP",
		body: b(ifi(3, 0), nlattr(unix.IFLA_ADDRESS, mac), nlattr(unix.IFLA_OPERSTATE, []byte{ifOperUp}),
			nlattr(unix.IFLA_LINKINFO, nlattr(unix.IFLA_INFO_KIND, "bridge\x00"),
				nlattr(unix.IFLA_INFO_DATA, nlattr(unix.IFLA_BR_HELLO_TIME, u32v(200)), nlattr(unix.IFLA_BR_STP_STATE, u32v(1))))),
		want: link{index: 3, mac: mac, kind: "bridge", operUp: true, stp: true},
	}, {
		name: "bridge port forwarding",
		body: b(ifi(7, 0), nlattr(unix.IFLA_MASTER, u32v(3)), nlattr(unix.IFLA_OPERSTATE, []byte{2}),
			nlattr(unix.IFLA_LINKINFO, nlattr(unix.IFLA_INFO_KIND, "veth\x00"), nlattr(unix.IFLA_INFO_SLAVE_KIND, "bridge\x00"),
				nlattr(unix.IFLA_INFO_SLAVE_DATA, nlattr(unix.IFLA_BRPORT_STATE, []byte{brStateForwarding})))),
		want: link{index: 7, master: 3, kind: "veth", portState: brStateForwarding},
	}, {
		name: "vrf port",
		body: b(ifi(8, 0), nlattr(unix.IFLA_MASTER, u32v(4)),
			nlattr(unix.IFLA_LINKINFO, nlattr(unix.IFLA_INFO_SLAVE_KIND, "vrf\x00"),
				nlattr(unix.IFLA_INFO_SLAVE_DATA, nlattr(1, u32v(10))))), // IFLA_VRF_PORT_TABLE
		want: link{index: 8, master: 4},
	}, {
		name: "plain device",
		body: b(ifi(2, 0), nlattr(unix.IFLA_IFNAME, "eth0\x00"), nlattr(unix.IFLA_ADDRESS, mac)),
		want: link{index: 2, mac: mac},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got link
			if err := got.decode(tt.body); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(link{})); diff != "" {
				t.Errorf("link (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLinkDecodeShort(t *testing.T) {
	var l link
	if err := l.decode(make([]byte, 8)); err == nil {
		t.Error("an 8-byte RTM_NEWLINK body decoded without error")
	}
}
