// Command docsnode runs a docsnode node and drives it.
//
//	docsnode start                  run the daemon on the data directory
//	docsnode doc new                create a document (through the daemon)
//	docsnode doc share DOC read     print a ticket for another node
//	docsnode doc join TICKET        join a shared document
//	docsnode doc watch DOC          print the document's events as they come
//
// Every command but start and local talks to the daemon's API: the unix
// socket in the data directory, or --api-addr with its token. docsnode
// --help lists them all. Exit codes: 0 ok, 1 error, 2 usage, 3 no daemon
// running.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/docsnode/docsnode/client"
	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitNoDaemon = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	code := exitCode(err)
	if err != nil && !errors.Is(err, errUsage) {
		fmt.Fprintln(os.Stderr, "docsnode:", err)
	}
	os.Exit(code)
}

func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage), errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, errNoDaemon):
		return exitNoDaemon
	}
	return exitError
}

// usageError is a command line that does not parse.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() + " (see --help)" }
func (e usageError) Unwrap() error { return e.err }

// errUsage: a usage error already reported (cobra printed it with the
// usage); main only sets the exit code.
var errUsage = errors.New("usage")

// errNoDaemon: no daemon answers on the data directory's socket.
var errNoDaemon = errors.New("no docsnode daemon is running")

// globals are the flags every command takes.
type globals struct {
	dataDir string
	json    bool
	apiAddr string // the TCP API: start serves it, the others connect to it
}

func (g *globals) dir() (string, error) {
	if g.dataDir != "" {
		return g.dataDir, nil
	}
	if d := os.Getenv("DOCSNODE_DATA"); d != "" {
		return d, nil
	}
	return defaultDataDir()
}

// client returns a client of the data directory's daemon: over
// --api-addr (or DOCSNODE_API_ADDR) with the token from
// DOCSNODE_API_TOKEN or the data directory, else over its socket.
func (g *globals) client() (*client.Client, error) {
	dir, err := g.dir()
	if err != nil {
		return nil, err
	}
	addr := g.apiAddr
	if addr == "" {
		addr = os.Getenv("DOCSNODE_API_ADDR")
	}
	if addr != "" {
		token := os.Getenv("DOCSNODE_API_TOKEN")
		if token == "" {
			if token, err = readAPIToken(dir); err != nil {
				return nil, err
			}
		}
		return client.New(client.Options{Addr: addr, Token: token})
	}
	sock, err := socketPath(dir)
	if err != nil {
		return nil, err
	}
	return client.New(client.Options{Socket: sock})
}

// explain turns a client error into what the user reads.
func (g *globals) explain(err error) error {
	if client.IsNoDaemon(err) {
		dir, _ := g.dir()
		return fmt.Errorf("%w for %s: start one with 'docsnode start' (add --data %s for this directory)", errNoDaemon, dir, dir)
	}
	return err
}

// run runs the command line args; main maps its error to the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	g := &globals{}
	root := &cobra.Command{
		Use:   "docsnode",
		Short: "docsnode keeps documents live between nodes",
		Long: `docsnode keeps documents live between nodes.

'docsnode start' runs the daemon on a data directory; the other commands
talk to it through its API (a unix socket in the data directory).

Exit codes: 0 ok, 1 error, 2 usage, 3 no daemon running.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetContext(ctx)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.dataDir, "data", "", "data directory (env DOCSNODE_DATA; default $XDG_DATA_HOME/docsnode or ~/.local/share/docsnode)")
	pf.BoolVar(&g.json, "json", false, "print JSON (JSON lines for streams)")
	pf.StringVar(&g.apiAddr, "api-addr", "", "TCP address of the API (env DOCSNODE_API_ADDR): start serves it with a bearer token, other commands connect to it")

	root.AddCommand(startCmd(g), docCmd(g), nodeCmd(g), authorCmd(g))
	for _, c := range root.Commands() {
		if c.HasSubCommands() {
			c.Args = groupArgs
			c.RunE = func(cmd *cobra.Command, _ []string) error {
				_ = cmd.Help()
				return usageError{fmt.Errorf("%s needs a command", cmd.CommandPath())}
			}
		}
	}
	err := root.Execute()
	var ue usageError
	if err != nil && !errors.As(err, &ue) && strings.HasPrefix(err.Error(), "unknown command") {
		return usageError{err}
	}
	return err
}

// groupArgs refuses an unknown command of a group such as doc.
func groupArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
	}
	return nil
}

// nargs checks the number of positional arguments, as a usage error.
func nargs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			want := fmt.Sprintf("%d to %d arguments", min, max)
			switch {
			case min == max && min == 1:
				want = "1 argument"
			case min == max:
				want = fmt.Sprintf("%d arguments", min)
			}
			// The error printer names the program; the path without it
			// names the command.
			name := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
			return usageError{fmt.Errorf("%s takes %s, got %d", name, want, len(args))}
		}
		return nil
	}
}
