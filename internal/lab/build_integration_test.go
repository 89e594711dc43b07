//go:build integration && linux

package lab

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBuildKeepsForeignNamespace makes namespace creation fail halfway
// because the name is taken, and checks teardown removes what the lab
// created but not the namespace it did not create.
func TestBuildKeepsForeignNamespace(t *testing.T) {
	if err := Requirements(Nftables); err != nil {
		if os.Getenv("NATP2P_REQUIRE_LAB") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	cfg, _ := Config{Logf: t.Logf}.normalize()
	l := newLab(cfg)
	taken := l.prefix + "-l1"
	if out, err := exec.Command("ip", "netns", "add", taken).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", taken).Run()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := l.build(ctx)
	if err == nil || !strings.Contains(err.Error(), "ip netns add "+taken) {
		t.Fatalf("build error %v, want it to name `ip netns add %s`", err, taken)
	}
	created := l.Namespaces()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range created {
		if _, err := os.Stat(netnsDir + "/" + n); !os.IsNotExist(err) {
			t.Errorf("%s survived teardown", n)
		}
	}
	if _, err := os.Stat(netnsDir + "/" + taken); err != nil {
		t.Errorf("teardown removed the foreign namespace %s: %v", taken, err)
	}
	if len(created) != 3 {
		t.Errorf("created %v, want router, WAN and l0", created)
	}
}
