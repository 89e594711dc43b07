package agent

import (
	"flag"
	"fmt"
	"slices"
)

// Flags are the options given on a command line. Register defines them on
// a flag.FlagSet; Apply then puts them over the defaults and the config
// file, so that a flag always wins over the file.
type Flags struct {
	given []givenFlag
}

type givenFlag struct {
	opt   *Option
	value string
}

// Register defines the flags of the named options on fs; with no names,
// of every option that has a flag.
func (f *Flags) Register(fs *flag.FlagSet, names ...string) {
	for i := range Options {
		o := &Options[i]
		if o.Flag() == "" || len(names) > 0 && !slices.Contains(names, o.Name) {
			continue
		}
		record := func(v string) error {
			f.given = append(f.given, givenFlag{o, v})
			return nil
		}
		if o.Switch {
			fs.BoolFunc(o.Flag(), o.usage(), record)
		} else {
			fs.Func(o.Flag(), o.usage(), record)
		}
	}
}

// usage is the option's line in a command's -h text.
func (o *Option) usage() string {
	def := o.Default
	switch {
	case o.Switch && def == "1":
		def = "true"
	case o.Switch:
		def = "false"
	}
	if def == "" {
		return o.Doc
	}
	return o.Doc + " (default " + def + ")"
}

// Apply sets the options given as flags in s, in command-line order.
// Errors name the flag.
func (f *Flags) Apply(s *Settings) error {
	for _, g := range f.given {
		if err := g.opt.apply(s, []string{g.value}); err != nil {
			return fmt.Errorf("--%s: %w", g.opt.Flag(), err)
		}
	}
	return nil
}

// Given reports whether the option called name was given as a flag.
func (f *Flags) Given(name string) bool {
	for _, g := range f.given {
		if g.opt.Name == name {
			return true
		}
	}
	return false
}
