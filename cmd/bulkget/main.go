// Command bulkget downloads a list of files over many parallel HTTP
// connections, splitting large files into byte ranges. See README.md and docs/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/bulkget/bulkget/internal/mask"
	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// Exit statuses, documented in the README and docs/usage.md.
const (
	exitOK          = 0
	exitFailed      = 1   // some files failed
	exitUsage       = 2   // bad flags or an unreadable list
	exitHangup      = 129 // stopped by --on-hangup stop: 128 + SIGHUP
	exitInterrupted = 130
)

func main() {
	// net/http reports a server's protocol errors it recovers from (a
	// response nobody asked for, on an idle connection it then closes)
	// through the standard logger: say whose message it is, without a date.
	log.SetFlags(0)
	log.SetPrefix("bulkget: warning from net/http: ")
	os.Exit(runMain(os.Args, os.Stdout, os.Stderr))
}

// runMain is main without the process: tests call it directly.
func runMain(args []string, stdout, stderr io.Writer) int {
	defer startProfile(stderr)()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		// A second Ctrl-C means "now": whatever is on disk is already
		// consistent, because the final name only ever holds complete files.
		select {
		case <-ctx.Done():
		case <-finished:
			return
		}
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(again)
		select {
		case <-again:
			os.Exit(exitInterrupted)
		case <-finished:
		}
	}()
	// Messages go through a console, which a run that loses its terminal
	// points at its log (hangup.go).
	con := newConsole(stderr)
	defer con.close()
	app := newApp(stdout, con)
	app.Metadata = map[string]any{metaArgs: args}
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(con, "bulkget:", mask.Text(msg))
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(con, "bulkget:", mask.Text(err.Error()))
	return exitUsage
}

func newApp(stdout, stderr io.Writer) *cli.App {
	usageError := func(c *cli.Context, err error, _ bool) error {
		return cli.Exit(fmt.Sprintf("%v (see bulkget --help)", err), exitUsage)
	}
	get := &cli.Command{
		Name:      "get",
		Usage:     "download every file of a list",
		ArgsUsage: "LIST",
		Description: "LIST is a CSV file whose first line is a header (skipped; --no-header if it has none)\n" +
			"and whose other lines are filename,url. Files go to a folder named after the list (lists/tmp.csv → ./tmp/)\n" +
			"unless --dir says otherwise.\n\n" +
			"Example:\n   bulkget get -c 32 --dir /data/models models.csv",
		Flags:        getFlags(),
		Action:       getAction,
		OnUsageError: usageError,
	}
	commands := []*cli.Command{get, demoCommand(), statusCommand(), watchCommand(), reportCommand(), completionCommand(), manCommand()}
	for _, c := range commands {
		// No "help" subcommand under a command ("bulkget status help"):
		// --help says it, and cli's shared help command would be written
		// by every app that set it up (see cliflags.go).
		c.HideHelpCommand = true
	}
	return &cli.App{
		Name:    "bulkget",
		Usage:   "download thousands of large files fast and reliably",
		Version: version,
		UsageText: "bulkget [options] LIST        download a list (same as bulkget get)\n" +
			"bulkget get [options] LIST\n" +
			"bulkget demo [options]        download from a built-in local server: no network needed\n" +
			"bulkget status [options] DIR  what is done, partial or not started in DIR, and the run there now\n" +
			"bulkget watch DIR             show the bars of the run going on in DIR, from any terminal\n" +
			"bulkget report EVENTS.jsonl   the HTML report of a saved --progress json stream (-o FILE.html)\n" +
			"bulkget completion bash|zsh   print a shell completion script",
		Description: "bulkget reads a list of filename,url lines and downloads many files at once,\n" +
			"each large file in byte ranges over several connections, written in place and\n" +
			"renamed to its final name only when complete.\n\n" +
			"Examples:\n" +
			"   bulkget models.csv                             into ./models/, bars on a terminal\n" +
			"   bulkget -c 32 -x 8 -d /data/models models.csv  32 connections, at most 8 per file\n" +
			"   bulkget --progress json models.csv | jq -c 'select(.type == \"failed\")'",
		Commands:             commands,
		Flags:                getFlags(),
		Action:               getAction,
		OnUsageError:         usageError,
		Writer:               stdout,
		ErrWriter:            stderr,
		HideHelpCommand:      true,
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {}, // exit codes are decided in runMain
	}
}
