package stun_test

import (
	"fmt"
	"net/netip"

	"github.com/natp2p/natp2p/probe/stun"
)

// A Binding request asking the server to answer from its other IP address
// and port (RFC 5780 4.4, filtering test II), and the server's answer.
func Example() {
	req := stun.Message{Type: stun.TypeBindingRequest, TransactionID: [12]byte{1, 2, 3}}
	req.Add(stun.AttrChangeRequest, stun.EncodeChangeRequest(stun.ChangeIP|stun.ChangePort))
	b := req.Marshal(true)

	in, err := stun.Parse(b)
	if err != nil {
		panic(err)
	}
	resp := stun.Message{Type: stun.TypeBindingSuccess, TransactionID: in.TransactionID}
	resp.Add(stun.AttrXORMappedAddress,
		stun.EncodeXORAddress(netip.MustParseAddrPort("198.51.100.10:40000"), in.TransactionID))

	out, err := stun.Parse(resp.Marshal(true))
	if err != nil {
		panic(err)
	}
	mapped, xor, err := out.Mapped()
	fmt.Println(len(b), mapped, xor, err)
	// Output: 36 198.51.100.10:40000 true <nil>
}
