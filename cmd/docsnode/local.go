package main

// The local commands: the first CLI, which opens the data directory
// itself. They stay for a data directory whose daemon is stopped.

import (
	"context"
	"errors"
	"io"
	"os"
)

const localUsage = `usage: docsnode local [--data DIR] [--json] <command> [args]

The local commands edit a data directory directly, with no daemon: they
refuse to run while a daemon runs on the directory.

authors:
  author new                 create an author (the first becomes the default)
  author ls                  list authors
  author default [ID]        show or set the default author
  author export ID           print an author's secret, for author import elsewhere
  author import SECRET       add an author from its exported secret

documents:
  doc new [--durable]        create a document; --durable fsyncs every write
  doc ls                     list documents
  doc set DOC KEY VALUE      write VALUE (not empty) at KEY as the default author
  doc get DOC KEY            print the latest value at KEY across authors
  doc keys DOC [PREFIX]      list the latest entry per key
  doc del DOC PREFIX         delete the default author's entries under PREFIX

--data DIR (or DOCSNODE_DATA) chooses the data directory; the default is
$XDG_DATA_HOME/docsnode, or ~/.local/share/docsnode. --json prints read
commands as JSON.
`

var errUsage = errors.New("usage")

// options are the global flags.
type options struct {
	dataDir string
	json    bool
}

func runLocal(ctx context.Context, args []string, stdout io.Writer) error {
	opts := options{dataDir: os.Getenv("DOCSNODE_DATA")}
	for len(args) > 0 {
		switch {
		case args[0] == "--json":
			opts.json = true
			args = args[1:]
		case args[0] == "--data" && len(args) > 1:
			opts.dataDir = args[1]
			args = args[2:]
		case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
			return errUsage
		default:
			goto parsed
		}
	}
parsed:
	if len(args) < 2 {
		return errUsage
	}
	if opts.dataDir == "" {
		dir, err := defaultDataDir()
		if err != nil {
			return err
		}
		opts.dataDir = dir
	}
	lock, err := lockDataDir(opts.dataDir)
	if err != nil {
		return err
	}
	defer lock.release()
	n, err := openNode(opts.dataDir)
	if err != nil {
		return err
	}
	defer n.close()
	c := &cli{node: n, json: opts.json, out: stdout}
	switch args[0] {
	case "author":
		return c.author(ctx, args[1], args[2:])
	case "doc":
		return c.doc(ctx, args[1], args[2:])
	}
	return errUsage
}
