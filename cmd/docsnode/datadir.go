package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Files the daemon keeps in its data directory, next to the store
// ("store") and the content ("blobs").
const (
	lockFile   = "daemon.lock" // held (flock) while a daemon runs
	socketFile = "api.sock"    // the API's unix socket, mode 0600
	tokenFile  = "api-token"   // the bearer token of the TCP API, mode 0600
	portFile   = "quic-port"   // the QUIC port chosen on first start
)

// maxSocketPath is the longest unix socket path: sun_path holds 108 bytes
// on Linux, the last for the terminating NUL (104 on the BSDs and macOS).
const maxSocketPath = 107

func defaultDataDir() (string, error) {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "docsnode"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no data directory: set --data or DOCSNODE_DATA (%w)", err)
	}
	return filepath.Join(home, ".local", "share", "docsnode"), nil
}

// dataLock is the exclusive lock on a data directory.
type dataLock struct{ f *os.File }

// errLocked: another process holds the data directory.
var errLocked = errors.New("the data directory is in use")

// lockDataDir creates dir (mode 0700) when missing and takes its lock,
// without waiting: a second daemon fails at once. The lock file holds the holder's pid, for the
// message; the lock itself is the flock, which the kernel drops when the
// holder exits, however it exits.
func lockDataDir(dir string) (*dataLock, error) {
	if err := mkdirDurable(dir, 0o700, syncDir); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		holder := "another process"
		if pid := strings.TrimSpace(string(b[:n])); pid != "" {
			holder = "process " + pid
		}
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s holds %s (a docsnode daemon runs on this data directory: stop it, or choose another with --data)", errLocked, holder, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dataLock{f: f}, nil
}

func (l *dataLock) release() {
	_ = l.f.Truncate(0)
	l.f.Close() // closing drops the flock
}

// socketPath returns the API socket's path in dir, refusing a path too
// long for a unix socket.
func socketPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	p := filepath.Join(abs, socketFile)
	if len(p) > maxSocketPath {
		return "", fmt.Errorf("the API socket path %s is %d bytes, over the %d a unix socket path may have: choose a shorter data directory with --data", p, len(p), maxSocketPath)
	}
	return p, nil
}

// apiToken returns the TCP API's token, generating and storing it (mode
// 0600) on first use.
func apiToken(dir string) (string, error) {
	path := filepath.Join(dir, tokenFile)
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read API token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	t := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store API token: %w", err)
	}
	return t, nil
}

// readAPIToken reads the token a client sends, without creating one.
func readAPIToken(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, tokenFile))
	if err != nil {
		return "", fmt.Errorf("read the API token (set DOCSNODE_API_TOKEN, or run on the daemon's machine): %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// keptPort returns the QUIC port chosen on a first start, or 0.
func keptPort(dir string) (uint16, error) {
	b, err := os.ReadFile(filepath.Join(dir, portFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	p, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("%s holds %q, not a port: remove it to choose a new one", filepath.Join(dir, portFile), b)
	}
	return uint16(p), nil
}

func keepPort(dir string, port uint16) error {
	return os.WriteFile(filepath.Join(dir, portFile), []byte(strconv.Itoa(int(port))+"\n"), 0o600)
}

// isLoopback reports whether a TCP listen address binds loopback only.
func isLoopback(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	if err == nil {
		return ap.Addr().IsLoopback()
	}
	host, _, ok := strings.Cut(addr, ":")
	return ok && host == "localhost"
}

// mkdirDurable is os.MkdirAll that also makes the new directories survive
// a power loss: each one it created is synced in its parent (sync is
// called on the parent of every new directory, top down). A directory
// that already existed is left as it is.
func mkdirDurable(dir string, perm os.FileMode, sync func(string) error) error {
	dir = filepath.Clean(dir)
	var created []string // deepest first
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := sync(filepath.Dir(created[i])); err != nil {
			return fmt.Errorf("sync %s: %w", filepath.Dir(created[i]), err)
		}
	}
	return nil
}

// syncDir fsyncs a directory, so that the entries made in it are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
