package main

// The commands that drive a running daemon through package client.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/client"
	"github.com/spf13/cobra"
)

// call runs f with a client of the daemon, and explains a missing one.
func (g *globals) call(cmd *cobra.Command, f func(ctx context.Context, c *client.Client) error) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	return g.explain(f(cmd.Context(), c))
}

// printJSON writes v as one JSON document.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// show prints v as JSON with --json, else as text does.
func (g *globals) show(cmd *cobra.Command, v any, text func(w io.Writer)) error {
	if g.json {
		return printJSON(cmd.OutOrStdout(), v)
	}
	text(cmd.OutOrStdout())
	return nil
}

// printableKey escapes a key for people: quoted when it holds anything
// but printable characters and no space, so that every key reads back.
func printableKey(k []byte) string {
	s := string(k)
	if !utf8.Valid(k) || strings.ContainsFunc(s, func(r rune) bool { return !strconv.IsPrint(r) || r == ' ' || r == '"' }) || s == "" {
		return strconv.Quote(s)
	}
	return s
}

func short(id string) string {
	if len(id) > 10 {
		return id[:10]
	}
	return id
}

func docCmd(g *globals) *cobra.Command {
	doc := &cobra.Command{Use: "doc", Short: "documents: create, join, share, read, write and watch"}

	var durable bool
	newCmd := &cobra.Command{
		Use: "new", Short: "create a document and print its id", Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				d, err := c.CreateDoc(ctx, durable)
				if err != nil {
					return err
				}
				return g.show(cmd, d, func(w io.Writer) { fmt.Fprintln(w, d.ID) })
			})
		},
	}
	newCmd.Flags().BoolVar(&durable, "durable", false, "acknowledge each write once fsynced")

	var skipContent bool
	join := &cobra.Command{
		Use: "join TICKET", Short: "join a shared document, start syncing it, and show the first sync's progress on a terminal", Args: nargs(1, 1),
		Long: `join imports a document's ticket and prints the document's id. On a
terminal it then shows the first sync: the entries received, then the
bytes of content held of those the entries name, until all of it is held
or the daemon downloads nothing more (content the download policy does not
fetch, or whose download was given up, comes when it is read). Leaving
early stops nothing: the daemon goes on syncing.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				d, err := c.Import(ctx, args[0])
				if err != nil {
					return err
				}
				if err := g.show(cmd, d, func(w io.Writer) { fmt.Fprintln(w, d.ID) }); err != nil {
					return err
				}
				// People at a terminal see the first sync; scripts and
				// --json get the id alone.
				if g.json || !isTerminal(cmd.OutOrStdout()) || !isTerminal(cmd.ErrOrStderr()) {
					return nil
				}
				s, err := c.Events(ctx, d.ID, d.EventsAfter, true)
				if err != nil {
					return err
				}
				defer s.Close()
				content := func() (client.ContentStatus, error) { return c.ContentStatus(ctx, d.ID) }
				if skipContent {
					content = nil
				}
				if err := joinProgress(s, content, cmd.ErrOrStderr()); err != nil && ctx.Err() == nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "progress:", err)
				}
				return nil
			})
		},
	}
	join.Flags().BoolVar(&skipContent, "skip-content", false, "return once the first sync's entries are in, without waiting for their content")

	ls := &cobra.Command{
		Use: "ls", Short: "list the documents", Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				docs, err := c.Docs(ctx)
				if err != nil {
					return err
				}
				return g.show(cmd, docs, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					for _, d := range docs {
						fmt.Fprintf(tw, "%s\t%s\t%s\n", d.ID, d.Capability, d.Durability)
					}
					tw.Flush()
				})
			})
		},
	}

	var setAuthor, setFile string
	set := &cobra.Command{
		Use:   "set DOC KEY [VALUE|-|@FILE]",
		Short: "write a value at a key: VALUE itself, - for stdin, @FILE or --file FILE for a file's content",
		Long: `Write a value at a key: VALUE itself, - for stdin, @FILE for a file's content.

--file FILE (- for stdin) streams a file of any size up to the daemon's
--max-value-bytes: it is never read into memory, and on a terminal a
progress bar shows the upload.`,
		Args: nargs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if setFile != "" {
				if len(args) == 3 {
					return usageError{errors.New("give the value as VALUE or as --file, not both")}
				}
				return g.call(cmd, func(ctx context.Context, c *client.Client) error {
					e, err := setFromFile(ctx, c, args[0], args[1], setFile, cmd.InOrStdin(), cmd.ErrOrStderr(), client.SetOptions{Author: setAuthor})
					if err != nil {
						return err
					}
					if g.json {
						return printJSON(cmd.OutOrStdout(), e)
					}
					return nil
				})
			}
			if len(args) != 3 {
				return usageError{errors.New("set needs a VALUE (or --file FILE)")}
			}
			var value io.Reader
			switch v := args[2]; {
			case v == "-":
				value = cmd.InOrStdin()
			case strings.HasPrefix(v, "@"):
				f, err := os.Open(v[1:])
				if err != nil {
					return err
				}
				defer f.Close()
				value = f
			case v == "":
				return fmt.Errorf("refusing to set an empty value at %q: an empty value is a deletion; use 'doc del DOC PREFIX' to delete", args[1])
			default:
				value = strings.NewReader(v)
			}
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				e, err := c.SetReader(ctx, args[0], args[1], value, client.SetOptions{Author: setAuthor})
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), e)
				}
				return nil
			})
		},
	}
	set.Flags().StringVar(&setAuthor, "author", "", "write as this author (default: the daemon's default author)")
	set.Flags().StringVar(&setFile, "file", "", "stream the value from `FILE` (- for stdin), with a progress bar on a terminal")

	var out, getAuthor string
	get := &cobra.Command{
		Use:   "get DOC KEY",
		Short: "print the latest value at a key (raw bytes; --output writes them to a file)",
		Long: `Print the latest value at a key, as raw bytes.

--output FILE streams the value into FILE instead, with a progress bar on
a terminal: it goes to a temporary file beside FILE, is checked against
the entry's length and hash, fsynced, and renamed over FILE, so FILE never
holds part of a value. An existing FILE is replaced.`,
		Args: nargs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				if out != "" {
					e, err := getToFile(ctx, c, args[0], args[1], out, cmd.ErrOrStderr(), client.GetOptions{Author: getAuthor})
					if err != nil || !g.json {
						return err
					}
					return printJSON(cmd.OutOrStdout(), e)
				}
				if !g.json {
					return getToWriter(ctx, c, args[0], args[1], cmd.OutOrStdout(), client.GetOptions{Author: getAuthor})
				}
				// JSON holds the value as a string or as base64, chosen
				// by its bytes: it is read whole (use --output for large
				// values).
				b, e, err := c.Get(ctx, args[0], args[1], client.GetOptions{Author: getAuthor})
				if err != nil {
					return err
				}
				v := struct {
					Entry       client.Entry `json:"entry"`
					Value       string       `json:"value,omitempty"`
					ValueBase64 string       `json:"value_base64,omitempty"`
				}{Entry: e}
				if utf8.Valid(b) {
					v.Value = string(b)
				} else {
					v.ValueBase64 = base64.StdEncoding.EncodeToString(b)
				}
				return printJSON(cmd.OutOrStdout(), v)
			})
		},
	}
	get.Flags().StringVarP(&out, "output", "o", "", "stream the value into `FILE` (replaced whole once the value is in), with a progress bar on a terminal")
	get.Flags().StringVar(&out, "out", "", "the same as --output")
	get.Flags().MarkHidden("out")
	get.Flags().StringVar(&getAuthor, "author", "", "read this author's entry rather than the latest")

	var keysAuthor, sortBy string
	var desc bool
	keys := &cobra.Command{
		Use:   "keys DOC [PREFIX]",
		Short: "list the entries (every author's), by key",
		Args:  nargs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := client.Query{Author: keysAuthor, Desc: desc}
			switch sortBy {
			case "key":
				q.SortByKey = true
			case "author":
			default:
				return usageError{fmt.Errorf("--sort %q: want key or author", sortBy)}
			}
			if len(args) == 2 {
				q.Prefix = &args[1]
			}
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				es, err := c.QueryAll(ctx, args[0], q)
				if err != nil {
					return err
				}
				if es == nil {
					es = []client.Entry{}
				}
				return g.show(cmd, es, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					for _, e := range es {
						fmt.Fprintf(tw, "%s\t%d bytes\t%s\n", printableKey(e.KeyBytes()), e.Len, short(e.Author))
					}
					tw.Flush()
				})
			})
		},
	}
	keys.Flags().StringVar(&keysAuthor, "author", "", "only this author's entries")
	keys.Flags().StringVar(&sortBy, "sort", "key", "order: key or author")
	keys.Flags().BoolVar(&desc, "desc", false, "descending order")

	del := &cobra.Command{
		Use: "del DOC PREFIX", Short: "delete the default author's entries under a prefix", Args: nargs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[1] == "" {
				return usageError{errors.New("the prefix is empty, which would delete every key: name a prefix")}
			}
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				_, err := c.Delete(ctx, args[0], args[1], "")
				return err
			})
		},
	}

	share := &cobra.Command{
		Use:   "share DOC read|write",
		Short: "print a ticket that lets another node read (or also write) the document",
		Args:  nargs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[1] != "read" && args[1] != "write" {
				return usageError{fmt.Errorf("share %q: want read or write", args[1])}
			}
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				t, err := c.Share(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), t)
				}
				note := "this ticket grants read access"
				if t.Mode == "write" {
					note = "this ticket grants WRITE access and holds the document's secret: hand it only to whom may write"
				}
				fmt.Fprintln(cmd.ErrOrStderr(), note)
				fmt.Fprintln(cmd.OutOrStdout(), t.Ticket)
				return nil
			})
		},
	}

	watch := &cobra.Command{
		Use:   "watch DOC",
		Short: "print the document's events as they happen (--json: JSON lines)",
		Args:  nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				return watchEvents(ctx, c, args[0], g.json, cmd.OutOrStdout())
			})
		},
	}

	simple := func(use, short string, f func(ctx context.Context, c *client.Client, doc string) error) *cobra.Command {
		return &cobra.Command{
			Use: use + " DOC", Short: short, Args: nargs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return g.call(cmd, func(ctx context.Context, c *client.Client) error { return f(ctx, c, args[0]) })
			},
		}
	}
	leave := simple("leave", "stop syncing the document (it stays here)", func(ctx context.Context, c *client.Client, d string) error { return c.Leave(ctx, d) })
	sync := simple("sync", "start syncing the document with the peers it knows", func(ctx context.Context, c *client.Client, d string) error { return c.StartSync(ctx, d) })
	drop := simple("drop", "stop syncing the document and delete it here", func(ctx context.Context, c *client.Client, d string) error { return c.Drop(ctx, d) })

	status := &cobra.Command{
		Use: "status DOC", Short: "show the document's sync state with each peer", Args: nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				peers, err := c.SyncStatus(ctx, args[0])
				if err != nil {
					return err
				}
				return g.show(cmd, peers, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "PEER\tSESSION\tSESSIONS\tFAILURES\tCAUGHT UP\tLAST SYNC\tLAST ERROR")
					for _, p := range peers {
						last := "never"
						if !p.LastSync.IsZero() {
							last = p.LastSync.Format(time.RFC3339)
						}
						fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%t\t%s\t%s\n", short(p.Peer), p.Running, p.Sessions, p.Failures, p.CaughtUp, last, p.LastError)
					}
					tw.Flush()
				})
			})
		},
	}

	content := &cobra.Command{
		Use: "content DOC", Short: "show how much of the content the document's entries name is held, and its downloads", Args: nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				st, err := c.ContentStatus(ctx, args[0])
				if err != nil {
					return err
				}
				return g.show(cmd, st, func(w io.Writer) { printContentStatus(w, st) })
			})
		},
	}

	var peer string
	var timeout time.Duration
	waitSynced := &cobra.Command{
		Use:   "wait-synced DOC",
		Short: "wait until the peer (every known peer by default) holds what this node holds",
		Args:  nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				return c.WaitSynced(ctx, args[0], peer, timeout)
			})
		},
	}
	waitSynced.Flags().StringVar(&peer, "peer", "", "the peer's node id")
	waitSynced.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up after this long")

	var prefixes, exact []string
	policy := &cobra.Command{
		Use:   "policy DOC [everything-except|nothing-except]",
		Short: "show the download policy, or set it: a mode and its --prefix and --key filters",
		Long: `policy shows which entries' content the document fetches from peers, or
sets it. everything-except fetches every key's content but the filters';
nothing-except fetches only the filters'. A new policy applies to entries
that arrive afterwards.`,
		Args: nargs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				var p client.Policy
				var err error
				if len(args) == 2 {
					set := client.Policy{Mode: args[1]}
					for _, k := range prefixes {
						set.Filters = append(set.Filters, wire.KeyFilter{Key: k, Prefix: true})
					}
					for _, k := range exact {
						set.Filters = append(set.Filters, wire.KeyFilter{Key: k})
					}
					p, err = c.SetDownloadPolicy(ctx, args[0], set)
				} else {
					p, err = c.DownloadPolicy(ctx, args[0])
				}
				if err != nil {
					return err
				}
				return g.show(cmd, p, func(w io.Writer) {
					fmt.Fprintln(w, p.Mode)
					for _, f := range p.Filters {
						kind := "key"
						if f.Prefix {
							kind = "prefix"
						}
						fmt.Fprintf(w, "  %s %s\n", kind, printableKey([]byte(f.Key)))
					}
				})
			})
		},
	}
	policy.Flags().StringArrayVar(&prefixes, "prefix", nil, "a filter matching every key under this prefix (repeatable)")
	policy.Flags().StringArrayVar(&exact, "key", nil, "a filter matching exactly this key (repeatable)")

	doc.AddCommand(newCmd, join, ls, set, get, keys, del, share, watch, leave, sync, drop, status, content, waitSynced, policy)
	return doc
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// watchEvents prints the document's events until ctx ends. When the
// stream breaks it reconnects with the last id it read, so that nothing
// is missed while the daemon's buffer holds it.
func watchEvents(ctx context.Context, c *client.Client, doc string, asJSON bool, w io.Writer) error {
	var last uint64
	resume := false
	for {
		s, err := c.Events(ctx, doc, last, resume)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for {
			ev, err := s.Next()
			if err != nil {
				break
			}
			last, resume = ev.ID, true
			if asJSON {
				b, _ := json.Marshal(ev)
				fmt.Fprintf(w, "%s\n", b)
			} else {
				fmt.Fprintln(w, describe(ev))
			}
			if f, ok := w.(interface{ Sync() error }); ok {
				_ = f.Sync()
			}
		}
		s.Close()
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second): // the daemon may be restarting
		}
	}
}

// describe is an event's line for people.
func describe(ev client.Event) string {
	var b strings.Builder
	b.WriteString(ev.Kind)
	if e := ev.Entry; e != nil {
		fmt.Fprintf(&b, " key=%s len=%d author=%s", printableKey(e.KeyBytes()), e.Len, short(e.Author))
	}
	if ev.Peer != "" {
		fmt.Fprintf(&b, " peer=%s", short(ev.Peer))
	}
	if ev.Kind == wire.EventLagged {
		fmt.Fprintf(&b, " missed=%d", ev.Missed)
	}
	if ev.Hash != "" {
		fmt.Fprintf(&b, " hash=%s", short(ev.Hash))
	}
	if d := ev.Downloads; d != nil {
		fmt.Fprintf(&b, " queued=%d running=%d completed=%d failed=%d bytes=%d/%d", d.Queued, d.Running, d.Completed, d.Failed, d.BytesCompleted, d.BytesQueued)
	}
	if ev.Error != "" {
		fmt.Fprintf(&b, " error=%q", ev.Error)
	}
	return b.String()
}

func nodeCmd(g *globals) *cobra.Command {
	node := &cobra.Command{Use: "node", Short: "the daemon's node"}
	id := &cobra.Command{
		Use: "id", Short: "print the node id", Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				n, err := c.Node(ctx)
				if err != nil {
					return err
				}
				return g.show(cmd, n, func(w io.Writer) { fmt.Fprintln(w, n.ID) })
			})
		},
	}
	addr := &cobra.Command{
		Use: "addr", Short: "print the node's addresses", Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				n, err := c.Node(ctx)
				if err != nil {
					return err
				}
				return g.show(cmd, n, func(w io.Writer) {
					for _, a := range n.Addrs {
						fmt.Fprintln(w, a)
					}
				})
			})
		},
	}
	status := &cobra.Command{
		Use: "status", Short: "say whether the daemon is ready, and what garbage collection did", Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.Health(ctx); err != nil {
					return err
				}
				n, err := c.Node(ctx)
				if err != nil {
					return err
				}
				return g.show(cmd, wire.Status{Status: "ready"}, func(w io.Writer) {
					fmt.Fprintln(w, "ready")
					fmt.Fprintln(w, gcSummary(n.GC))
				})
			})
		},
	}
	var statsOnly bool
	gc := &cobra.Command{
		Use:   "gc",
		Short: "run one content garbage collection pass and print what collection did",
		Long: `gc runs one content garbage collection pass on the daemon now, and prints
what collection has done since the daemon started. Content no entry names
is removed only once a pass at least --gc-grace earlier (a start flag)
found it unreferenced: a first pass notes it, a later one removes it.
With --stats it runs no pass and only prints.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				var st client.GC
				if statsOnly {
					n, err := c.Node(ctx)
					if err != nil {
						return err
					}
					st = n.GC
				} else {
					var err error
					if st, err = c.CollectGarbage(ctx); err != nil {
						return err
					}
				}
				return g.show(cmd, st, func(w io.Writer) { fmt.Fprintln(w, gcSummary(st)) })
			})
		},
	}
	gc.Flags().BoolVar(&statsOnly, "stats", false, "print what collection did without running a pass")
	node.AddCommand(id, addr, status, gc)
	return node
}

// gcSummary is one line on content garbage collection.
func gcSummary(st client.GC) string {
	last := "no pass yet"
	if !st.LastRun.IsZero() {
		last = fmt.Sprintf("last pass %s, took %dms", st.LastRun.Local().Format(time.DateTime), st.LastMillis)
		if st.LastError != "" {
			last += ", failed: " + st.LastError
		}
	}
	return fmt.Sprintf("gc: %d passes (%d abandoned), removed %d blobs of %d bytes; %d held, %d unreferenced, %d waiting out the grace period, %d protected; %s",
		st.Runs, st.Abandoned, st.BlobsRemoved, st.BytesRemoved, st.Held, st.Unreferenced, st.Pending, st.Protected, last)
}

func authorCmd(g *globals) *cobra.Command {
	author := &cobra.Command{Use: "author", Short: "the daemon's authors"}
	ls := &cobra.Command{
		Use: "ls", Short: "list the author ids; the default is marked *", Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				a, err := c.Authors(ctx)
				if err != nil {
					return err
				}
				return g.show(cmd, a, func(w io.Writer) {
					for _, id := range a.Authors {
						mark := " "
						if id == a.Default {
							mark = "*"
						}
						fmt.Fprintln(w, mark, id)
					}
				})
			})
		},
	}
	create := &cobra.Command{
		Use: "new", Short: "create an author and print its id", Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				id, err := c.CreateAuthor(ctx)
				if err != nil {
					return err
				}
				return g.show(cmd, wire.Author{ID: id}, func(w io.Writer) { fmt.Fprintln(w, id) })
			})
		},
	}
	def := &cobra.Command{
		Use: "default [ID]", Short: "print the default author, or make ID the default", Args: nargs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				if len(args) == 1 {
					return c.SetDefaultAuthor(ctx, args[0])
				}
				a, err := c.Authors(ctx)
				if err != nil {
					return err
				}
				return g.show(cmd, wire.Author{ID: a.Default}, func(w io.Writer) { fmt.Fprintln(w, a.Default) })
			})
		},
	}
	export := &cobra.Command{
		Use: "export ID", Short: "print an author's secret, for 'author import' on another node", Args: nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				secret, err := c.ExportAuthor(ctx, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.ErrOrStderr(), "this is the author's secret: whoever holds it can write as this author")
				return g.show(cmd, wire.AuthorSecret{Secret: secret}, func(w io.Writer) { fmt.Fprintln(w, secret) })
			})
		},
	}
	imp := &cobra.Command{
		Use: "import SECRET|-", Short: "add an author from its exported secret (- reads it from stdin)", Args: nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			secret := args[0]
			if secret == "-" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4096))
				if err != nil {
					return err
				}
				secret = strings.TrimSpace(string(b))
			}
			return g.call(cmd, func(ctx context.Context, c *client.Client) error {
				id, err := c.ImportAuthor(ctx, secret)
				if err != nil {
					return err
				}
				return g.show(cmd, wire.Author{ID: id}, func(w io.Writer) { fmt.Fprintln(w, id) })
			})
		},
	}
	del := &cobra.Command{
		Use: "delete ID", Short: "delete an author key (its entries stay)", Args: nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd, func(ctx context.Context, c *client.Client) error { return c.DeleteAuthor(ctx, args[0]) })
		},
	}
	author.AddCommand(create, ls, def, export, imp, del)
	return author
}
