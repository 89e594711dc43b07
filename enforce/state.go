package enforce

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// StateSchema names the state file's version.
const StateSchema = "natp2p.enforce/v1"

// State is what enforcement must remember across a crash: the original
// values of the sysctls it raised, to undo them, and which rules it made,
// so that a restart with other interfaces replaces them. It lives in RAM on a
// router (/var/run), as the changes it records do not survive a reboot
// either.
type State struct {
	Schema  string         `json:"schema"`
	Backend string         `json:"backend,omitempty"`
	Rules   string         `json:"rules,omitempty"` // Rules.ID of the rules in the kernel
	Sysctls map[string]int `json:"sysctls"`         // originals, by full name
	// IPTNat is the iptables nat table as it was before the first
	// install on iptables-nft, which creates the table and its base
	// chains when a rule first goes in them: cleanup deletes those it
	// created that are empty then. Nil: not recorded (another backend,
	// iptables-legacy, or an older agent's state), and cleanup leaves them.
	IPTNat *NATTable `json:"iptables_nat,omitempty"`
}

// NATTable is what of nf_tables' family ip table "nat" exists.
type NATTable struct {
	Exists bool     `json:"exists"`
	Chains []string `json:"chains"` // its base chains, as PREROUTING
}

// LoadState reads the state file; a missing file is an empty State.
func LoadState(path string) (State, error) {
	st := State{Schema: StateSchema, Sysctls: map[string]int{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read enforcement state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("enforcement state %s: %w (remove it after restoring the conntrack sysctls by hand)", path, err)
	}
	if st.Schema != StateSchema {
		return st, fmt.Errorf("enforcement state %s: schema %q, want %q", path, st.Schema, StateSchema)
	}
	if st.Sysctls == nil {
		st.Sysctls = map[string]int{}
	}
	return st, nil
}

// SaveState writes the state file atomically (a temporary file renamed).
func SaveState(path string, st State) error {
	st.Schema = StateSchema
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save enforcement state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save enforcement state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save enforcement state: %w", err)
	}
	return nil
}

// loadState reads the Enforcer's state file; without one (no StatePath)
// it starts from an empty State.
func (e *Enforcer) loadState() error {
	if e.cfg.StatePath == "" {
		e.state = State{Schema: StateSchema, Sysctls: map[string]int{}}
		return nil
	}
	st, err := LoadState(e.cfg.StatePath)
	e.state = st
	return err
}

// saveState writes the Enforcer's state file, if it has one.
func (e *Enforcer) saveState() error {
	if e.cfg.StatePath == "" {
		return nil
	}
	return SaveState(e.cfg.StatePath, e.state)
}
