package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

func init() {
	scenarios["blob-liar"] = runBlobLiar
	hiddenScenarios["blob-liar"] = true
}

const blobLiarHelp = `usage: docsbench blob-liar -size N

The lying provider of docsbench blob -liar, a process of its own that the
blob scenario starts: not a scenario to run by hand. It makes the blob
scenario's value of -size bytes (the generator p0's value comes from),
builds its tree, and serves it on the content protocol (ALPN
docsnode/blobs/1) from a QUIC endpoint on 127.0.0.1:0, with the first byte
of every chunk group whose index is 3 modulo 10 flipped and honest proofs.
It answers every request for the value's hash, whatever document and
entry the request names, and speaks no other protocol.

It prints "addr HEX hash HEX", its node address (endpoint.NodeAddr's
binary form) and the value's hash, once it serves; it stops when its standard input closes, and then prints
"liar requests=N bytes=N": the requests it answered and the bytes it
wrote to their streams.

Flags:
`

// liarLine starts the liar's last line, its counters.
const liarLine = "liar "

// runBlobLiar is the lying provider; see blobLiarHelp.
func runBlobLiar(args []string) error {
	fs := flag.NewFlagSet("blob-liar", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), blobLiarHelp)
		fs.PrintDefaults()
	}
	sizeFlag := fs.String("size", "64MiB", "the value's size, as docsbench blob -size")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	size, err := parseSize(*sizeFlag)
	if err != nil {
		return fmt.Errorf("-size: %w", err)
	}
	if size < 1 {
		return fmt.Errorf("-size %s: want 1 byte or more", *sizeFlag)
	}
	ctx := context.Background()
	l, err := newLiar(blobContent{size}, size, blobs.DefaultGroupLog)
	if err != nil {
		return err
	}
	ep, err := identity(ctx)
	if err != nil {
		return fmt.Errorf("open the endpoint: %w", err)
	}
	if err := ep.Handle(endpoint.ALPNBlobs, l); err != nil {
		ep.Close()
		return fmt.Errorf("serve content: %w", err)
	}
	addr, err := ep.Addr().MarshalBinary()
	if err != nil {
		ep.Close()
		return fmt.Errorf("encode the node address: %w", err)
	}
	fmt.Printf("addr %s hash %s\n", hex.EncodeToString(addr), hashOf(l.enc.Root()))
	io.Copy(io.Discard, os.Stdin) // until the parent closes it
	err = ep.Close()              // waits for the handlers
	fmt.Printf("%srequests=%d bytes=%d\n", liarLine, l.requests.Load(), l.bytes.Load())
	return err
}

// liar serves one blob on the content protocol with every group that
// liarCorrupts corrupted.
type liar struct {
	data     *liarData
	enc      *blobs.SliceEncoder
	size     int64
	groupLog uint8

	requests atomic.Int64 // requests decoded and answered
	bytes    atomic.Int64 // bytes written to the streams
}

// newLiar builds the honest tree of the size bytes of content, in chunk
// groups of 1024<<groupLog bytes, then turns lying on.
func newLiar(content io.ReaderAt, size int64, groupLog uint8) (*liar, error) {
	d := &liarData{honest: content, groupSize: 1024 << groupLog}
	enc, err := blobs.NewSliceEncoder(d, size, groupLog)
	if err != nil {
		return nil, fmt.Errorf("liar: build the tree: %w", err)
	}
	d.lying.Store(true)
	return &liar{data: d, enc: enc, size: size, groupLog: groupLog}, nil
}

// Limits of what the liar reads, as a docsnode server's defaults.
const (
	liarMaxKeyLen  = 4096
	liarReadLimit  = 64 << 10
	liarReadPeriod = 10 * time.Second
	liarIdle       = 30 * time.Second
)

// HandleConn serves each stream of conn, one request each, until it
// closes. It implements endpoint.Handler.
func (l *liar) HandleConn(ctx context.Context, conn *endpoint.Conn) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		st, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		wg.Go(func() { l.serve(st) })
	}
}

// serve reads one request from st and answers it.
func (l *liar) serve(st *endpoint.Stream) {
	st.SetReadDeadline(time.Now().Add(liarReadPeriod))
	b, err := io.ReadAll(io.LimitReader(st, liarReadLimit))
	if err != nil {
		endStream(st)
		return
	}
	req, err := blobs.DecodeRequest(b, liarMaxKeyLen, blobs.DefaultMaxRanges)
	if err != nil {
		endStream(st)
		return
	}
	l.requests.Add(1)
	cw := &byteCounter{w: &idleWriter{st}}
	bw := bufio.NewWriterSize(cw, 64<<10)
	err = l.respond(bw, &req)
	if err == nil {
		err = bw.Flush()
	}
	l.bytes.Add(cw.n)
	if err != nil {
		endStream(st) // the client dropped us, most likely
		return
	}
	st.Close()
}

// Response statuses of the content protocol (docs/protocol.md).
const (
	liarStatusOK         = 0
	liarStatusNotFound   = 1
	liarStatusBadRequest = 3
)

// respond writes the answer to req to w: the status OK, the value's size
// and the slice of each range, or a refusal for a request of another hash,
// another chunk group size, or groups beyond the value.
func (l *liar) respond(w io.Writer, req *blobs.Request) error {
	refuse := func(status byte, text string) error {
		b := binary.AppendUvarint([]byte{status}, uint64(len(text)))
		_, err := w.Write(append(b, text...))
		return err
	}
	switch {
	case req.Hash != l.enc.Root():
		return refuse(liarStatusNotFound, "not found")
	case req.GroupLog != l.groupLog:
		return refuse(liarStatusBadRequest, fmt.Sprintf("chunk groups of %d bytes here", 1024<<l.groupLog))
	case req.Ranges[len(req.Ranges)-1].End > l.enc.Groups():
		return refuse(liarStatusBadRequest, fmt.Sprintf("the content has %d groups", l.enc.Groups()))
	}
	if _, err := w.Write(binary.AppendUvarint([]byte{liarStatusOK}, uint64(l.size))); err != nil {
		return err
	}
	for _, r := range req.Ranges {
		if err := l.enc.WriteSlice(w, r); err != nil {
			return err
		}
	}
	return nil
}

// byteCounter counts the bytes written through it.
type byteCounter struct {
	w io.Writer
	n int64
}

func (c *byteCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// idleWriter writes to a stream with a deadline of liarIdle per write, so
// a peer that stops reading frees the handler.
type idleWriter struct{ st *endpoint.Stream }

func (w *idleWriter) Write(p []byte) (int, error) {
	w.st.SetWriteDeadline(time.Now().Add(liarIdle))
	return w.st.Write(p)
}

// liarProc is a running docsbench blob-liar child.
type liarProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // its stdout, line by line; closed at its end
	addr  endpoint.NodeAddr
	hash  string // the value's, as the liar computed it
}

// startLiar starts docsbench blob-liar for a value of size bytes, with
// its standard error in logPath. Call wait for its address, and stop.
func startLiar(size int64, logPath string) (*liarProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start the liar: %w", err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	l := &liarProc{cmd: exec.Command(exe, "blob-liar", "-size", strconv.FormatInt(size, 10)), lines: make(chan string, 4)}
	l.cmd.Stderr = logf
	if l.stdin, err = l.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := l.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := l.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the liar: %w", err)
	}
	go func() {
		defer close(l.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l.lines <- sc.Text()
		}
	}()
	return l, nil
}

// wait returns the liar's node address and the value's hash once it
// serves.
func (l *liarProc) wait(timeout time.Duration) (endpoint.NodeAddr, string, error) {
	if !l.addr.ID.IsZero() {
		return l.addr, l.hash, nil
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case line, ok := <-l.lines:
		if !ok {
			return l.addr, "", errors.New("the liar exited before it served (see liar.log)")
		}
		var addrHex string
		_, err := fmt.Sscanf(line, "addr %s hash %s", &addrHex, &l.hash)
		b, herr := hex.DecodeString(addrHex)
		if err != nil || herr != nil {
			return l.addr, "", fmt.Errorf("the liar said %q, want its address and hash", line)
		}
		if err := l.addr.UnmarshalBinary(b); err != nil {
			return l.addr, "", fmt.Errorf("the liar's address: %w", err)
		}
		return l.addr, l.hash, nil
	case <-timer.C:
		return l.addr, "", fmt.Errorf("the liar did not serve within %v", timeout)
	}
}

// stop closes the liar's standard input, which ends it, and returns its
// counters.
func (l *liarProc) stop(timeout time.Duration) (requests, bytes int64, err error) {
	l.stdin.Close()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var last string
	for done := false; !done; {
		select {
		case line, ok := <-l.lines:
			if !ok {
				done = true
			} else {
				last = line
			}
		case <-timer.C:
			l.cmd.Process.Kill()
			for range l.lines {
			}
			done = true
		}
	}
	werr := l.cmd.Wait()
	rest, ok := strings.CutPrefix(last, liarLine)
	if !ok {
		return 0, 0, fmt.Errorf("the liar ended (%v) without its counters", werr)
	}
	if _, err := fmt.Sscanf(rest, "requests=%d bytes=%d", &requests, &bytes); err != nil {
		return 0, 0, fmt.Errorf("the liar's counters %q: %w", last, err)
	}
	return requests, bytes, werr
}

// hashOf is the value's hash in the form the API prints.
func hashOf(h replica.Hash) string { return hex.EncodeToString(h[:]) }
