package agent

import (
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"time"

	"github.com/natp2p/natp2p/internal/docsync"

	"github.com/google/go-cmp/cmp"
	"github.com/natp2p/natp2p/enforce"
)

var update = flag.Bool("update", false, "rewrite docs/config.md's option table")

var addrEqual = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// loadOptions writes lines as a config file's section and loads it.
func loadOptions(t *testing.T, lines ...string) (Settings, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "natp2p")
	body := "config natp2p 'main'\n\t" + strings.Join(lines, "\n\t") + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return LoadConfig(path)
}

// fileLine is how a config file sets o to v.
func fileLine(o *Option, v string) string {
	if o.List {
		return "list " + o.Name + " '" + v + "'"
	}
	return "option " + o.Name + " '" + v + "'"
}

func TestOptionsTable(t *testing.T) {
	names, flags := map[string]bool{}, map[string]bool{}
	backquoted := regexp.MustCompile("`[^`]+`")
	for _, o := range Options {
		switch {
		case names[o.Name] || o.Flag() != "" && flags[o.Flag()]:
			t.Errorf("option %s defined twice", o.Name)
		case !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(o.Name):
			t.Errorf("option %q: not a UCI option name", o.Name)
		case o.Doc == "" || o.Example == "" || o.set == nil:
			t.Errorf("option %s: needs a Doc, an Example and a setter", o.Name)
		case o.Example == o.Default:
			t.Errorf("option %s: the example is the default", o.Name)
		case !o.Switch && o.Flag() != "" && !backquoted.MatchString(o.Doc):
			t.Errorf("option %s: its Doc names no `argument` for the flag's usage", o.Name)
		}
		names[o.Name], flags[o.Flag()] = true, true
	}
}

// The defaults in the table are the ones the packages fall back to.
func TestDefaultSettings(t *testing.T) {
	s := DefaultSettings()
	def := DefaultEnforce()
	got := EnforceConfig{Backend: s.Backend, Mapping: s.EnforceMapping, Hairpin: s.EnforceHairpin,
		Timeouts: s.EnforceTimeouts, UDPTimeout: s.UDPTimeout, PinGrace: s.PinGrace, PinQuota: s.PinQuota}
	if diff := cmp.Diff(def, got); diff != "" {
		t.Errorf("enforce defaults (-packages +Options):\n%s", diff)
	}
	if s.EventBuffer != DefaultReadBuffer || s.ProbeInterval != DefaultProbeInterval || s.Socket != DefaultSocket ||
		s.Mode != ModeObserve || !s.Enabled || !s.ProbeNetns || s.PreservePorts || s.Level().String() != "INFO" {
		t.Errorf("DefaultSettings() = %+v", s)
	}
	if enforce.DefaultUDPTimeout != 300 || enforce.DefaultGrace != 30*time.Second {
		t.Error("the docs' defaults of udp_timeout and pin_grace changed")
	}
}

// Every option is read from the file, and its flag wins over the file.
func TestFlagsOverFile(t *testing.T) {
	for i := range Options {
		o := &Options[i]
		t.Run(o.Name, func(t *testing.T) {
			fromFile, err := loadOptions(t, fileLine(o, o.Example))
			if err != nil {
				t.Fatal(err)
			}
			if cmp.Equal(fromFile, DefaultSettings(), addrEqual) {
				t.Fatalf("option %s '%s' left the defaults as they are", o.Name, o.Example)
			}
			if o.Flag() == "" {
				return
			}
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			var f Flags
			f.Register(fs)
			arg := "--" + o.Flag() + "=" + o.Default
			if o.Switch {
				arg = map[bool]string{true: "--" + o.Flag(), false: "--" + o.Flag() + "=false"}[o.Default == "1"]
			}
			if err := fs.Parse([]string{arg}); err != nil {
				t.Fatal(err)
			}
			if err := f.Apply(&fromFile); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(DefaultSettings(), fromFile, addrEqual); diff != "" || !f.Given(o.Name) {
				t.Errorf("%s over the file's %q (-want +got):\n%s", arg, o.Example, diff)
			}
		})
	}
}

func TestFlagErrorsNameTheFlag(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f Flags
	f.Register(fs, "pin_quota")
	if err := fs.Parse([]string{"--pin-quota", "0"}); err != nil {
		t.Fatal(err)
	}
	s := DefaultSettings()
	if err := f.Apply(&s); err == nil || err.Error() != `--pin-quota: "0": want 1 to 65535 pins per host, or -1 for no limit` {
		t.Errorf("Apply = %v", err)
	}
	if fs.Lookup("mode") != nil {
		t.Error("Register(pin_quota) registered --mode too")
	}
}

// shippedLine matches an option in a shipped config file, commented or not.
var shippedLine = regexp.MustCompile(`^\s*(#?)\s*(option|list)\s+([a-z_0-9]+)\s+'([^']*)'`)

// The configs we ship show every option that applies there, and a
// commented option shows its default.
func TestShippedConfigsShowEveryOption(t *testing.T) {
	for _, tt := range []struct {
		path    string
		openwrt bool
	}{
		{"../openwrt/natp2p/files/natp2p.config", true},
		{"../rc/natp2p.conf", false},
	} {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			if _, err := LoadConfig(tt.path); err != nil {
				t.Fatal(err)
			}
			seen := shippedOptions(t, tt.path)
			for _, o := range Options {
				if !seen[o.Name] && (tt.openwrt || !o.OpenWrt) {
					t.Errorf("%s does not show option %s", tt.path, o.Name)
				}
			}
		})
	}
}

// shippedOptions checks each option line of a config file and returns the
// options it names.
func shippedOptions(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for n, line := range strings.Split(string(b), "\n") {
		m := shippedLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		commented, name, value := m[1] == "#", m[3], m[4]
		o := lookupOption(name)
		switch {
		case o == nil:
			t.Errorf("%s:%d: unknown option %s", path, n+1, name)
			continue
		case commented && o.Default != "" && value != o.Default:
			t.Errorf("%s:%d: #option %s '%s', but the default is '%s'", path, n+1, name, value, o.Default)
		}
		s := DefaultSettings()
		if err := o.apply(&s, []string{value}); err != nil {
			t.Errorf("%s:%d: %v", path, n+1, err)
		}
		seen[name] = true
	}
	return seen
}

// docs/config.md lists every option as the table defines it; go test
// -run TestDocsListEveryOption ./agent -update rewrites it.
func TestDocsListEveryOption(t *testing.T) {
	docsync.Section(t, "../docs/config.md", "<!-- options: begin (generated from agent.Options) -->\n", "<!-- options: end -->\n",
		optionsMarkdown(), *update, "run go test ./agent -run TestDocsListEveryOption -update")
}

// optionsMarkdown is the docs' table of options.
func optionsMarkdown() string {
	var b strings.Builder
	b.WriteString("| UCI option | flag | default | example | what it sets |\n|---|---|---|---|---|\n")
	for _, o := range Options {
		flag, def := "(init script)", o.Default
		if o.Flag() != "" {
			flag = "`--" + o.Flag() + "`"
		}
		if def == "" {
			def = "(none)"
		} else {
			def = "`" + def + "`"
		}
		kind := "option"
		if o.List {
			kind = "list"
		}
		doc := o.Doc
		if o.OpenWrt {
			doc += " (OpenWrt only)"
		}
		b.WriteString("| `" + kind + " " + o.Name + "` | " + flag + " | " + def + " | `" + o.Example + "` | " + doc + " |\n")
	}
	return b.String()
}
