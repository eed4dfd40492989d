package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// The completion scripts ask bulkget itself which commands and options fit
// where the cursor is (urfave/cli's --generate-bash-completion, enabled by
// EnableBashCompletion), so they never go stale; only option values are
// completed by the scripts. %[1]s and %[2]s are case patterns: the options
// that take a file name, and the other options that take a value.
const bashCompletion = `# bash completion for bulkget.
# This shell only:  source <(bulkget completion bash)
# For good:         bulkget completion bash > ~/.local/share/bash-completion/completions/bulkget
_bulkget() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        --progress)
            COMPREPLY=($(compgen -W "auto bars plain json none" -- "$cur")); return ;;
        -d|--dir)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -d -- "$cur")); return ;;
        %[1]s)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        completion)
            COMPREPLY=($(compgen -W "bash zsh" -- "$cur")); return ;;
        %[2]s)
            return ;; # a number, size or duration: nothing to offer
    esac
    local before=("${COMP_WORDS[@]:0:COMP_CWORD}") w opts
    for w in "${before[@]:1}"; do
        # After "--" everything is a file, and bulkget would not be asked
        # for completions but would run.
        if [[ $w == -- ]]; then
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur")); return
        fi
    done
    if [[ $cur == -* ]]; then
        # A lone "-" asks for every option of the command being typed.
        opts=$("${before[@]}" - --generate-bash-completion 2>/dev/null)
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    opts=$("${before[@]}" --generate-bash-completion 2>/dev/null)
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -W "$opts" -- "$cur") $(compgen -f -- "$cur"))
}
complete -F _bulkget bulkget
`

const zshCompletion = `#compdef bulkget
# zsh completion for bulkget.
# This shell only:  source <(bulkget completion zsh)
# For good:         bulkget completion zsh > "${fpath[1]}/_bulkget", then start a new zsh
_bulkget() {
  local cur=${words[CURRENT]} prev=${words[CURRENT-1]}
  local -a before opts
  case $prev in
    --progress) compadd -- auto bars plain json none; return ;;
    -d|--dir) _files -/; return ;;
    %[1]s) _files; return ;;
    completion) compadd -- bash zsh; return ;;
    %[2]s) return ;; # a number, size or duration: nothing to offer
  esac
  before=("${(@)words[1,CURRENT-1]}")
  # After "--" everything is a file, and bulkget would not be asked for
  # completions but would run.
  if (( ${before[(Ie)--]} )); then _files; return; fi
  if [[ $cur == -* ]]; then
    # A lone "-" asks for every option of the command being typed.
    opts=(${(f)"$("${(@)before}" - --generate-bash-completion 2>/dev/null)"})
    compadd -- "${(@)opts}"
    return
  fi
  opts=(${(f)"$("${(@)before}" --generate-bash-completion 2>/dev/null)"})
  compadd -- "${(@)opts}"
  _files
}
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
  _bulkget "$@"
else
  compdef _bulkget bulkget
fi
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash or zsh",
		ArgsUsage: "bash|zsh",
		Description: "Load it in the current shell, or install it for good:\n" +
			"   source <(bulkget completion bash)\n" +
			"   bulkget completion bash > ~/.local/share/bash-completion/completions/bulkget\n" +
			"   bulkget completion zsh > \"${fpath[1]}/_bulkget\"",
		Action: func(c *cli.Context) error {
			var script string
			switch c.Args().First() {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			}
			if script == "" || c.NArg() != 1 {
				return cli.Exit("completion: want one shell, bash or zsh (see bulkget completion --help)", exitUsage)
			}
			files, values := valueFlags(c.App)
			_, err := fmt.Fprintf(c.App.Writer, script, files, values)
			return err
		},
	}
}

// valueFlags returns, as shell case patterns, every spelling of the
// options (of all commands) that take a file name, and of the others that
// take a value, so the scripts offer files, or nothing, where a value is
// expected rather than commands.
func valueFlags(app *cli.App) (files, values string) {
	var f, v []string
	add := func(flags []cli.Flag) {
		for _, fl := range flags {
			tv, ok := fl.(cli.DocGenerationFlag)
			if !ok || !tv.TakesValue() {
				continue
			}
			takesFile := false
			switch x := fl.(type) {
			case *cli.StringFlag:
				takesFile = x.TakesFile
			case *cli.PathFlag:
				takesFile = x.TakesFile
			}
			for _, n := range fl.Names() {
				switch n {
				case "progress", "dir", "d": // the scripts complete these
					continue
				}
				dash := "--"
				if len(n) == 1 {
					dash = "-"
				}
				if takesFile {
					f = append(f, dash+n)
				} else {
					v = append(v, dash+n)
				}
			}
		}
	}
	add(app.Flags)
	for _, cmd := range app.Commands {
		add(cmd.Flags)
	}
	pattern := func(names []string) string {
		if len(names) == 0 {
			return "--no-such-option-" // an empty case pattern is a syntax error
		}
		slices.Sort(names)
		return strings.Join(slices.Compact(names), "|")
	}
	return pattern(f), pattern(v)
}

func manCommand() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print the manual page (troff), generated from the same definitions as --help",
		Hidden: true,
		Description: "View it with:   bulkget man | man -l -\n" +
			"Install it with: bulkget man > /usr/local/share/man/man1/bulkget.1",
		Action: func(c *cli.Context) error {
			page, err := c.App.ToManWithSection(1)
			if err != nil {
				return fmt.Errorf("man page: %w", err)
			}
			_, err = fmt.Fprint(c.App.Writer, page+manEnvironment(c.App))
			return err
		},
	}
}

// manEnvironment is the ENVIRONMENT section, which urfave/cli's page lacks:
// every variable, from the flag definitions like the rest of the page.
func manEnvironment(app *cli.App) string {
	type envFlag interface{ GetEnvVars() []string }
	var b strings.Builder
	b.WriteString("\n.SH ENVIRONMENT\nEvery option can also be set from an environment variable; the command line wins.\n")
	seen := map[string]bool{}
	add := func(cmd string, flags []cli.Flag) {
		for _, f := range flags {
			ef, ok := f.(envFlag)
			if !ok {
				continue
			}
			for _, v := range ef.GetEnvVars() {
				if seen[v] {
					continue
				}
				seen[v] = true
				fmt.Fprintf(&b, ".TP\n\\fB%s\\fP\n%s\\-\\-%s\n", v, cmd, f.Names()[0])
			}
		}
	}
	add("", app.Flags)
	for _, cmd := range app.Commands {
		add(cmd.Name+" ", cmd.Flags)
	}
	return b.String()
}
