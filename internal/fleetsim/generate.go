package fleetsim

import (
	"embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/natp2p/natp2p/report"
)

//go:embed testdata/*.json
var templates embed.FS

// Router is one simulated router and what its metrics must say.
type Router struct {
	Name     string // cpe-0001: its identity, the push's instance label
	Model    string // what its /tmp/sysinfo/model says
	Firmware string // its os-release's PRETTY_NAME
	Profile  string // the lab profile its report comes from
	Report   []byte // the report it replays, as `report --json` wrote it
	// Verdicts is the truth: each check's verdict, lowercase as in the
	// natp2p_check state set.
	Verdicts map[string]string
	Backend  string // natp2p_device_info's backend: none in observe mode
}

// line is a model on one firmware, and the NAT behaviour its routers
// show, as profile names and weights.
type line struct {
	model, firmware string
	weight          int
	profiles        []weighted
}

type weighted struct {
	profile string
	weight  int
}

// fleetLines is the fleet's make-up: OpenWrt releases on common boards, an
// ISP's own box whose newer firmware broke endpoint-independent mapping
// (the regression the rules look for), and PC routers.
var fleetLines = []line{
	{"TP-Link Archer C7 v5", "OpenWrt 23.05.5 r24106-10cc5fcd00", 3, []weighted{{"masquerade", 6}, {"masquerade-drop", 1}, {"enforce-nftables", 1}}},
	{"TP-Link Archer C7 v5", "OpenWrt 24.10.0 r28427-6df0e3d02a", 2, []weighted{{"masquerade", 5}, {"enforce-nftables", 3}}},
	{"GL.iNet GL-MT3000", "OpenWrt 23.05.4 r24012-d8dd03c46f", 2, []weighted{{"masquerade", 3}, {"masquerade-open", 1}, {"double-nat", 1}}},
	{"GL.iNet GL-MT3000", "OpenWrt 24.10.0 r28427-6df0e3d02a", 1, []weighted{{"masquerade", 4}, {"enforce-nftables", 2}}},
	{"Linksys WRT3200ACM", "OpenWrt 22.03.7 r20265-f85a79bcb4", 1, []weighted{{"snat-pool", 2}, {"enforce-iptables", 2}, {"masquerade", 1}}},
	{"ISP Box 2000", "ISPOS 3.1.4", 3, []weighted{{"masquerade", 5}, {"dmz", 1}}},
	{"ISP Box 2000", "ISPOS 3.2.0", 2, []weighted{{"fully-random", 5}, {"masquerade", 1}}},
	{"PC Engines apu2", "Debian GNU/Linux 12 (bookworm)", 1, []weighted{{"none", 1}, {"masquerade", 2}, {"enforce-iptables", 1}}},
}

// Generate makes n routers, the same ones for the same seed. Their
// reports are the templates' with the router's own host name, times and
// table sizes; their checks and verdicts are the template's.
func Generate(n int, seed uint64, now time.Time) ([]Router, error) {
	tmpl, err := loadTemplates()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	lineWeights := make([]int, len(fleetLines))
	for i, l := range fleetLines {
		lineWeights[i] = l.weight
	}
	routers := make([]Router, n)
	for i := range routers {
		l := fleetLines[pick(rng, lineWeights)]
		pw := make([]int, len(l.profiles))
		for j, p := range l.profiles {
			pw[j] = p.weight
		}
		name := fmt.Sprintf("cpe-%04d", i+1)
		profile := l.profiles[pick(rng, pw)].profile
		r, err := vary(tmpl[profile], name, now, rng)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", name, profile, err)
		}
		r.Model, r.Firmware, r.Profile = l.model, l.firmware, profile
		routers[i] = r
	}
	return routers, nil
}

// pick returns an index drawn with the given weights.
func pick(rng *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := rng.IntN(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	panic("fleetsim: unreachable")
}

// loadTemplates reads every profile's saved report.
func loadTemplates() (map[string]report.Report, error) {
	out := make(map[string]report.Report, len(Profiles))
	for _, p := range Profiles {
		b, err := templates.ReadFile("testdata/" + p.Name + ".json")
		if err != nil {
			return nil, fmt.Errorf("no template for profile %s (natp2p-lab fleet-snapshots makes them): %w", p.Name, err)
		}
		if err := report.Validate(b); err != nil {
			return nil, fmt.Errorf("testdata/%s.json: %w", p.Name, err)
		}
		var r report.Report
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("testdata/%s.json: %w", p.Name, err)
		}
		out[p.Name] = r
	}
	return out, nil
}

// vary makes one router's report from a template: its name, a report
// made now after some hours of observation, and tables of its own size.
func vary(t report.Report, name string, now time.Time, rng *rand.Rand) (Router, error) {
	r := t
	r.Host = name
	r.GeneratedAt = now.UTC()
	r.Since = r.GeneratedAt.Add(-time.Duration(1+rng.IntN(72*60)) * time.Minute)
	r.Mappings = report.Counts{UDP: rng.IntN(400), TCP: rng.IntN(200)}
	r.Flows = report.Counts{UDP: r.Mappings.UDP + rng.IntN(200), TCP: r.Mappings.TCP + rng.IntN(100)}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return Router{}, err
	}
	out := Router{Name: name, Report: b, Verdicts: map[string]string{}, Backend: "none"}
	for _, c := range r.Checks {
		out.Verdicts[c.ID] = strings.ToLower(string(c.Verdict))
	}
	if r.Enforcement != nil && r.Enforcement.Backend != "" {
		out.Backend = r.Enforcement.Backend
	}
	return out, nil
}

// Verdicts are a check's states, as natp2p_check has them.
var Verdicts = []string{"pass", "warn", "fail", "unknown"}

// Cell is one entry of the compliance table by model and firmware, as
// the recording rule natp2p:check_verdict_by_firmware:count has it.
type Cell struct {
	Check, Verdict, Model, Firmware string
}

func (c Cell) String() string {
	return fmt.Sprintf("%s=%s %s / %s", c.Check, c.Verdict, c.Model, c.Firmware)
}

// Table is the fleet's true compliance table: routers per check, verdict,
// model and firmware, with a zero for each verdict no router of that
// model and firmware has (every state of a state set is a series).
func Table(routers []Router) map[Cell]int {
	t := map[Cell]int{}
	for _, r := range routers {
		for check, v := range r.Verdicts {
			for _, s := range Verdicts {
				c := Cell{check, s, r.Model, r.Firmware}
				if s == v {
					t[c]++
				} else {
					t[c] += 0
				}
			}
		}
	}
	return t
}

// Diff lists the cells where got differs from want, sorted; empty when
// they are equal.
func Diff(want, got map[Cell]int) []string {
	var out []string
	for c, n := range want {
		if g, ok := got[c]; !ok || g != n {
			out = append(out, fmt.Sprintf("%s: %d, want %d", c, got[c], n))
		}
	}
	for c, n := range got {
		if _, ok := want[c]; !ok {
			out = append(out, fmt.Sprintf("%s: %d, want none", c, n))
		}
	}
	sort.Strings(out)
	return out
}

// ByCheck folds a table over models and firmwares: routers per check
// and verdict, as natp2p:check_verdict:count has it.
func ByCheck(t map[Cell]int) map[Cell]int {
	out := map[Cell]int{}
	for c, n := range t {
		out[Cell{Check: c.Check, Verdict: c.Verdict}] += n
	}
	return out
}

// PassRatios is the truth of natp2p:check_pass:ratio: per check, the
// share of the routers with a verdict (pass, warn or fail) that pass.
func PassRatios(routers []Router) map[string]float64 {
	pass, judged := map[string]int{}, map[string]int{}
	for _, r := range routers {
		for check, v := range r.Verdicts {
			if v == "unknown" {
				judged[check] += 0
				continue
			}
			judged[check]++
			if v == "pass" {
				pass[check]++
			}
		}
	}
	out := make(map[string]float64, len(judged))
	for check, n := range judged {
		out[check] = float64(pass[check]) / float64(n) // 0/0 is NaN, as in PromQL
	}
	return out
}

// CompliantRatio is the truth of natp2p:routers_compliant:ratio: the
// share of routers that fail no check.
func CompliantRatio(routers []Router) float64 {
	ok := 0
	for _, r := range routers {
		fails := false
		for _, v := range r.Verdicts {
			fails = fails || v == "fail"
		}
		if !fails {
			ok++
		}
	}
	return float64(ok) / float64(len(routers))
}

// Devices is the truth of natp2p_device_info: routers per model,
// firmware and backend, keyed "model | firmware | backend".
func Devices(routers []Router) map[string]int {
	out := map[string]int{}
	for _, r := range routers {
		out[r.Model+" | "+r.Firmware+" | "+r.Backend]++
	}
	return out
}
