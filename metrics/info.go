package metrics

// writeInfo writes the metadata series fleet queries join on.
func writeInfo(p *page, in Input) {
	b := in.Build
	p.add(desc{"natp2p_build_info", gauge, "The agent's build: its version and the Go it was built with; always 1."}).
		put(1, "version", orUnknown(b.Version), "goversion", orUnknown(b.GoVersion))
	d := in.Device
	backend := d.Backend
	if backend == "" && in.Report.Enforcement != nil {
		backend = in.Report.Enforcement.Backend
	}
	if backend == "" {
		backend = "none"
	}
	p.add(desc{"natp2p_device_info", gauge,
		"The router: its model, firmware and natp2p's firewall backend (none in observe mode); always 1."}).
		put(1, "model", orUnknown(d.Model), "firmware", orUnknown(d.Firmware), "backend", backend)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
