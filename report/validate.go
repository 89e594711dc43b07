package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// IDs lists every check ID in report order.
func IDs() []string {
	return []string{IDMappingUDP, IDMappingTCP, IDPortPreservation, IDPortOverloading, IDPoolPaired,
		IDHairpin, IDTimeoutUDP, IDTimeoutTCP, IDTimeoutTCPTrans, IDFiltering, IDUpstreamNAT,
		IDMappingStable, IDTCPUnsolicited, IDALG, IDP2PUDP, IDP2PTCP}
}

// Validate checks that data is one natp2p.report/v1 document: every field
// present with its type, every check ID known and present once, verdicts
// in upper case. Fleet tooling can call it on what routers send.
func Validate(data []byte) error {
	var doc struct {
		Schema      *string         `json:"schema"`
		GeneratedAt *time.Time      `json:"generated_at"`
		Host        *string         `json:"host"`
		Source      *string         `json:"source"`
		Since       *time.Time      `json:"since"`
		WAN         *[]Interface    `json:"wan"`
		LAN         *[]Interface    `json:"lan"`
		Checks      *[]Check        `json:"checks"`
		Mappings    *Counts         `json:"mappings"`
		Flows       *Counts         `json:"flows"`
		Sysctls     *map[string]int `json:"sysctls"`
		Conntrack   *SourceStats    `json:"conntrack"`
		Probe       *Probes         `json:"probe"`
		Enforcement *Enforcement    `json:"enforcement"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("report: not a %s document: %w", Schema, err)
	}
	if dec.More() {
		return errors.New("report: more than one JSON value")
	}
	switch {
	case doc.Schema == nil || *doc.Schema != Schema:
		return fmt.Errorf("report: schema is not %q", Schema)
	case doc.GeneratedAt == nil || doc.Host == nil || doc.Since == nil || doc.WAN == nil || doc.LAN == nil ||
		doc.Checks == nil || doc.Mappings == nil || doc.Flows == nil || doc.Sysctls == nil:
		return errors.New("report: a required field is missing")
	case doc.Source == nil || (*doc.Source != SourceDaemon && *doc.Source != SourceSnapshot):
		return errors.New("report: source is neither daemon nor snapshot")
	}
	return validateChecks(*doc.Checks)
}

func validateChecks(checks []Check) error {
	ids := IDs()
	if len(checks) != len(ids) {
		return fmt.Errorf("report: %d checks, want %d", len(checks), len(ids))
	}
	for i, c := range checks {
		if c.ID != ids[i] {
			return fmt.Errorf("report: check %d is %q, want %q", i, c.ID, ids[i])
		}
		switch c.Verdict {
		case Pass, Warn, Fail, Unknown:
		default:
			return fmt.Errorf("report: check %s has verdict %q", c.ID, c.Verdict)
		}
		if c.Summary == "" || c.Evidence == nil || len(c.Evidence) > MaxEvidence {
			return fmt.Errorf("report: check %s needs a summary and 0 to %d evidence lines", c.ID, MaxEvidence)
		}
	}
	return nil
}
