package enforce

import (
	"fmt"
	"testing"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
)

func TestMissesForgetTheOldAndHoldAtMostMissMax(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	to := func(public string) conntrackmap.Flow {
		return flow(conntrackmap.UDP, "198.51.100.10:5000", public, "198.51.100.10:5000")
	}
	var ms misses
	for i := 0; i < missMax+10; i++ { // one a millisecond, to two endpoints in turn
		ms.add(to(fmt.Sprintf("203.0.113.1:%d", 41000+i%2)), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if ms.n != missMax {
		t.Fatalf("%d misses held, want the cap %d", ms.n, missMax)
	}
	ms.forget(t0.Add(missKeep + 100*time.Millisecond)) // the misses of the first 101 ms are old
	if ms.n != missMax-101 {
		t.Errorf("after forget: %d misses, want %d", ms.n, missMax-101)
	}
	got := ms.take(endpointKey{conntrackmap.UDP, ap("203.0.113.1:41000")})
	if len(got) != 461 || ms.n != missMax-101-461 { // the even milliseconds from 102 to 1022
		t.Errorf("take: %d misses, %d left; want 461, %d", len(got), ms.n, missMax-101-461)
	}
	if again := ms.take(endpointKey{conntrackmap.UDP, ap("203.0.113.1:41000")}); len(again) != 0 {
		t.Errorf("a second take returned %d misses", len(again))
	}
}
