//go:build linux

package main

import (
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/internal/stats"
)

func printLatency(w io.Writer, lats []latencyResult) {
	fmt.Fprintf(w, "### Pin install latency (%s new private endpoints, one at a time, %v apart)\n\n",
		thousands(enfEndpoints), enfPace)
	fmt.Fprintln(w, "| backend | pins held | install p50 | install p99 | baseline: first datagram LAN -> WAN p50 | p99 | agent error |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|")
	for _, r := range lats {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s |\n", r.backend, r.pins, dur(r.p50), dur(r.p99),
			dur(r.trip50), dur(r.trip99), orNone(r.agentE))
	}
	fmt.Fprintln(w)
}

func printWindow(w io.Writer, backends []string, windows map[string][]windowResult) {
	fmt.Fprintf(w, "### Pin window (%d trials per delay; share of fresh endpoints whose second destination got another public port)\n\n", enfTrials)
	head, sep := "| delay A -> B | measured gap (median) |", "|---:|---:|"
	for _, b := range backends {
		for i := range windows[b] {
			head += fmt.Sprintf(" %s lab, %s |", b, [...]string{"no agent", "agent", "agent --preserve-ports"}[i])
			sep += "---:|"
		}
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
	for d, delay := range windowDelays {
		var gaps []time.Duration
		for _, b := range backends {
			for _, wr := range windows[b] {
				gaps = append(gaps, wr.gaps[d]...)
			}
		}
		fmt.Fprintf(w, "| %s | %s |", dur(delay), dur(stats.Percentile(gaps, 50)))
		for _, b := range backends {
			for _, wr := range windows[b] {
				lost := ""
				if wr.lost[d] > 0 {
					lost = fmt.Sprintf(", %d lost", wr.lost[d])
				}
				fmt.Fprintf(w, " %d/%d (%.1f%%%s) |", wr.differ[d], wr.trials[d], 100*float64(wr.differ[d])/float64(max(wr.trials[d], 1)), lost)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func printFloods(w io.Writer, backends []string, floods map[string][]floodResult, flows int) {
	fmt.Fprintf(w, "### New flows per second through the NAT, agent not running (flood of up to %s flows from %d sockets, stopped after %v)\n\n",
		thousands(flows), floodSockets, enfFloodLimit)
	fmt.Fprintln(w, "| backend | rules | run | datagrams sent | conntrack entries created | new flows/s (created / flood time) | vs stock NAT, same run |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
	for _, b := range backends {
		rs := append([]floodResult(nil), floods[b]...)
		sort.SliceStable(rs, func(i, j int) bool { return configOrder(rs[i].config) < configOrder(rs[j].config) })
		for _, r := range rs {
			fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %.0f | %.0f%% |\n", b, r.config, r.run, r.sent, r.created,
				r.rate(), 100*r.rate()/r.stockRate)
		}
	}
	fmt.Fprintln(w)
	printUpdates(w, backends, floods)
}

// printUpdates prints, per backend and number of pins, the time one
// update of one pin took, additions (a pin installed) and deletions apart,
// over every run.
func printUpdates(w io.Writer, backends []string, floods map[string][]floodResult) {
	fmt.Fprintf(w, "### One pin added, then deleted, through the backend, with the pins in place (%d of each per run, every run)\n\n", enfUpdates)
	fmt.Fprintln(w, "| backend | pins held | additions | p50 | p99 | deletions | p50 | p99 |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, b := range backends {
		adds, dels := map[int][]time.Duration{}, map[int][]time.Duration{}
		var counts []int
		for _, r := range floods[b] {
			if len(r.adds) == 0 {
				continue
			}
			if _, ok := adds[r.pins]; !ok {
				counts = append(counts, r.pins)
			}
			adds[r.pins], dels[r.pins] = append(adds[r.pins], r.adds...), append(dels[r.pins], r.dels...)
		}
		sort.Ints(counts)
		for _, n := range counts {
			a, d := adds[n], dels[n]
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %d | %s | %s |\n", b, thousands(n), len(a), dur(stats.Percentile(a, 50)),
				dur(stats.Percentile(a, 99)), len(d), dur(stats.Percentile(d, 50)), dur(stats.Percentile(d, 99)))
		}
	}
	fmt.Fprintln(w)
}

// configOrder sorts flood rows by their number of pins, stock first.
func configOrder(name string) int {
	switch {
	case strings.HasPrefix(name, "stock"):
		return 0
	case strings.Contains(name, " "+thousands(enfPinsMany)+" "):
		return 3
	case strings.Contains(name, " "+thousands(enfPinsSome)+" "):
		return 2
	}
	return 1
}

// dur prints a duration in µs below 1 ms, else in ms.
func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return "Linux " + unix.ByteSliceToString(u.Release[:])
}

func toolVersion(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return name + " (unknown version)"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
