package agent

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/natp2p/natp2p/probe"
)

func TestRunStartsAndStops(t *testing.T) {
	tests := []struct {
		name    string
		observe bool
		want    []string // the calls in their order
	}{
		{name: "observe", observe: true, want: []string{"remove vantage", "source run", "source returned", "run returned"}},
		{name: "enforce", want: []string{"enforcer start", "remove vantage", "source run", "resynced",
			"source returned", "enforcer returned", "run returned"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			if tt.observe {
				r.observe()
			}
			d := r.start(t)
			d.waitReady(t)
			if n := r.a.table.Len(); n != 1 {
				t.Errorf("after ready the table has %d flows, want the dump's 1", n)
			}
			resp, err := ask(r.path, "mappings")
			switch {
			case err != nil:
				t.Fatalf("after ready the control socket does not answer: %v", err)
			case os.Geteuid() != 0:
				if !strings.Contains(resp.Error, "for root") {
					t.Errorf("reply to a user = %+v, want a refusal", resp)
				}
			case resp.Error != "" || len(resp.Mappings) != 1:
				t.Errorf("reply = %+v, want the one mapping", resp)
			}
			d.cancel()
			if err := d.wait(t); err != nil {
				t.Errorf("Run = %v after ctx was done, want nil", err)
			}
			inOrder(t, r.calls, tt.want...)
			socketClosed(t, r.path)
		})
	}
}

func TestRunStopsMidResync(t *testing.T) {
	r := newRig(t)
	r.src.blocked = make(chan struct{})
	d := r.start(t)
	d.waitReady(t)
	r.kick <- struct{}{} // the WAN address changes: the source resyncs, and its dump hangs
	select {
	case <-r.src.blocked:
	case <-time.After(runWait):
		t.Fatal("the WAN change did not resync the source")
	}
	d.cancel()
	if err := d.wait(t); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	inOrder(t, r.calls, "retain", "dump blocked", "source returned", "enforcer returned", "run returned")
	socketClosed(t, r.path)
}

// TestRunFails: Run stops on its own and returns the failure, with every
// goroutine returned and the control socket closed.
func TestRunFails(t *testing.T) {
	tests := []struct {
		name  string
		fail  error
		setup func(r *rig, fail error) // before Run
		kill  func(r *rig)             // once ready, if non-nil
		ready bool                     // whether ready is closed
		exact bool                     // want the calls and nothing else
		want  []string                 // the calls in their order
	}{
		{name: "enforcer start", fail: errors.New("no nf_tables"),
			setup: func(r *rig, fail error) { r.enf.startErr = fail },
			exact: true, want: []string{"enforcer start", "run returned"}},
		{name: "source", fail: errors.New("conntrack: listen: no buffer space"),
			setup: func(r *rig, fail error) { r.src.fail = fail }, ready: true,
			want: []string{"source run", "source returned", "enforcer returned", "run returned"}},
		{name: "control socket", fail: net.ErrClosed, setup: func(*rig, error) {},
			kill: func(r *rig) { r.listener().Close() }, ready: true,
			want: []string{"source returned", "enforcer returned", "run returned"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			tt.setup(r, tt.fail)
			d := r.start(t)
			if tt.kill != nil {
				d.waitReady(t)
				tt.kill(r)
			}
			if err := d.wait(t); !errors.Is(err, tt.fail) {
				t.Errorf("Run = %v, want %v", err, tt.fail)
			}
			if tt.exact {
				if diff := cmp.Diff(tt.want, r.calls.list()); diff != "" {
					t.Errorf("calls (-want +got):\n%s", diff)
				}
			} else {
				inOrder(t, r.calls, tt.want...)
			}
			select {
			case <-d.ready:
				if !tt.ready {
					t.Error("ready closed")
				}
			default:
				if tt.ready {
					t.Error("ready not closed")
				}
			}
			socketClosed(t, r.path)
			if _, err := os.Stat(r.path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the control socket's file: %v, want it removed", err)
			}
		})
	}
}

// TestRunNoRuleChangeAfterReturn: WAN changes and events race the
// shutdown; none reaches the enforcer once its Run returned, so none
// after Run returned.
func TestRunNoRuleChangeAfterReturn(t *testing.T) {
	r := newRig(t)
	r.storm, r.src.feed = true, 50*time.Microsecond
	d := r.start(t)
	d.waitReady(t)
	time.Sleep(rand.N(5 * time.Millisecond)) // into the storm
	d.cancel()
	if err := d.wait(t); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	time.Sleep(10 * time.Millisecond) // a straggler would call now
	if r.calls.index("retain") < 0 {
		t.Fatal("no WAN change reached the enforcer: the test raced nothing")
	}
	if got := r.calls.changesAfter("enforcer returned"); len(got) > 0 {
		t.Errorf("rule changes after the enforcer's Run returned: %q", got)
	}
	inOrder(t, r.calls, "source returned", "enforcer returned", "run returned")
}

// TestRunProbeEndsBeforeSocket: a probe in flight at shutdown ends after
// the enforcer, while the control socket still answers.
func TestRunProbeEndsBeforeSocket(t *testing.T) {
	r := newRig(t)
	lan := netip.MustParseAddr("192.168.1.1")
	r.a.prober = &prober{introducer: "192.0.2.1", every: time.Hour,
		lanFrom: func() netip.Addr { return lan }, wanFrom: func() netip.Addr { return lan },
		run: func(ctx context.Context, _ probe.Config) (*probe.Report, error) {
			r.calls.add("probe")
			<-ctx.Done()
			if _, err := ask(r.path, "report"); err != nil {
				r.calls.add("probe ended: " + err.Error())
			} else {
				r.calls.add("probe ended: socket answers")
			}
			return nil, ctx.Err()
		}}
	d := r.start(t)
	d.waitReady(t)
	for deadline := time.Now().Add(runWait); r.calls.index("probe") < 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no probe started")
		}
	}
	d.cancel()
	if err := d.wait(t); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	inOrder(t, r.calls, "probe", "enforcer returned", "probe ended: socket answers", "run returned")
	socketClosed(t, r.path)
}
