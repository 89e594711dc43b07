package stun

import (
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes a hex dump; spaces, newlines and "//" comments are ignored.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// The test vectors of RFC 5769 (section 2). natp2p has no
// MESSAGE-INTEGRITY support: Parse must carry those attributes untouched.
const (
	// rfc5769Request is the sample request (2.1): SOFTWARE, PRIORITY,
	// ICE-CONTROLLED, USERNAME (with 0x20 padding bytes),
	// MESSAGE-INTEGRITY and FINGERPRINT.
	rfc5769Request = `
		0001 0058 2112a442 b7e7a701 bc34d686 fa87dfae
		8022 0010 5354554e 20746573 7420636c 69656e74 // SOFTWARE "STUN test client"
		0024 0004 6e0001ff                            // PRIORITY
		8029 0008 932ff9b1 51263b36                   // ICE-CONTROLLED
		0006 0009 6576746a 3a683676 59202020          // USERNAME "evtj:h6vY", padding 0x20
		0008 0014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2 // MESSAGE-INTEGRITY
		8028 0004 e57a3bcf                            // FINGERPRINT`

	// rfc5769IPv4Response is the sample IPv4 response (2.2):
	// XOR-MAPPED-ADDRESS 192.0.2.1:32853.
	rfc5769IPv4Response = `
		0101 003c 2112a442 b7e7a701 bc34d686 fa87dfae
		8022 000b 74657374 20766563 746f7220          // SOFTWARE "test vector", padding 0x20
		0020 0008 0001a147 e112a643                   // XOR-MAPPED-ADDRESS
		0008 0014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7 // MESSAGE-INTEGRITY
		8028 0004 c07d4c96                            // FINGERPRINT`

	// rfc5769IPv6Response is the sample IPv6 response (2.3):
	// XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853.
	rfc5769IPv6Response = `
		0101 0048 2112a442 b7e7a701 bc34d686 fa87dfae
		8022 000b 74657374 20766563 746f7220          // SOFTWARE "test vector"
		0020 0014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9 // XOR-MAPPED-ADDRESS
		0008 0014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41 // MESSAGE-INTEGRITY
		8028 0004 c8fb0b4c                            // FINGERPRINT`

	// rfc5769LongTermRequest is the long-term credential request (2.4):
	// USERNAME, NONCE, REALM, MESSAGE-INTEGRITY and no FINGERPRINT.
	rfc5769LongTermRequest = `
		0001 0060 2112a442 78ad3433 c6ad72c0 29da412e
		0006 0012 e3839ee3 8388e383 aae38383 e382afe3 82b90000 // USERNAME
		0015 001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679 36347341 // NONCE
		0014 000b 6578616d 706c652e 6f726700          // REALM "example.org"
		0008 0014 f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666 // MESSAGE-INTEGRITY`
)
