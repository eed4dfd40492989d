package main

import (
	"flag"

	"github.com/urfave/cli/v2"
)

// urfave/cli adds its package-level help and version flags to every app
// and command, and a flag's Apply records its default in the flag itself:
// two apps parsing at once in one process (the tests run a download and
// watch it in-process) would write the same flag. Each Apply here works on
// a copy, so the shared flags are only ever read.
func init() {
	cli.HelpFlag = copiedOnApply{cli.HelpFlag.(*cli.BoolFlag)}
	cli.VersionFlag = copiedOnApply{cli.VersionFlag.(*cli.BoolFlag)}
}

// copiedOnApply is a bool flag whose Apply leaves it untouched.
type copiedOnApply struct{ *cli.BoolFlag }

func (f copiedOnApply) Apply(set *flag.FlagSet) error {
	c := *f.BoolFlag
	return c.Apply(set)
}
