package stun

import (
	"errors"
	"testing"
)

func TestUnsolicitedRoundTrip(t *testing.T) {
	for _, u := range []Unsolicited{UnsolicitedNone, UnsolicitedReset, UnsolicitedICMP, UnsolicitedSYNACK} {
		got, errno, err := DecodeUnsolicited(EncodeUnsolicited(u, 113))
		if err != nil || got != u || errno != 113 {
			t.Errorf("%d: got %d, %d, %v", u, got, errno, err)
		}
	}
	for _, v := range [][]byte{nil, {1, 0, 0}, {0, 0, 0, 0}, {5, 0, 0, 0}, {1, 0, 0, 0, 0}} {
		if _, _, err := DecodeUnsolicited(v); !errors.Is(err, ErrAttribute) {
			t.Errorf("%x: err %v, want ErrAttribute", v, err)
		}
	}
}

func TestAskRoundTrip(t *testing.T) {
	got, err := DecodeAsk(EncodeAsk(AskUnsolicited | AskPeer))
	if err != nil || got != AskUnsolicited|AskPeer {
		t.Errorf("got %x, %v", got, err)
	}
	if _, err := DecodeAsk([]byte{1}); !errors.Is(err, ErrAttribute) {
		t.Errorf("short value: %v", err)
	}
}
