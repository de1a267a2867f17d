package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
)

func init() { scenarios["chaos"] = runChaos }

const chaosHelp = `usage: docsbench chaos [flags]

Runs the engine package's chaos test (TestChaos) over many seeds. The test
needs a *testing.T (testing/synctest), so the scenario builds the engine
test binary once (go test -c, from the current directory, which must be in
the docsnode module, unless -bin names a built one) and runs it over the
seeds in batches, -procs processes at a time, each running its batch one
seed after the other. Each seed prints one "chaos-result" line; a seed
whose process died before printing one is run again alone, and counts as
diverged if it dies again.

A seed converges when, within the test's bound of virtual time after every
fault is removed, every replica holds the model's entries. The seeds that
did not are listed on stderr with the command that runs them again, and
their test output is kept under -out.

Figures (last line):
  seeds            seeds run
  converged        seeds that converged on the model
  diverged         seeds that did not, or whose test failed otherwise
  p50_converge_s   median virtual time from the heal to convergence
  p99_converge_s   99th percentile of it (converged seeds)
  max_converge_s   the longest
  p99_live_s       99th percentile, over the seeds that passed, of the
                   virtual time one write on each node then takes to
                   reach every node
  wall_s           wall-clock time of the whole run, build excluded

Flags:
`

// runChaos runs TestChaos over many seeds; see chaosHelp.
func runChaos(args []string) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), chaosHelp)
		fs.PrintDefaults()
	}
	seeds := fs.Int("seeds", 100, "how many seeds to run")
	first := fs.Uint64("first", 1, "the first seed")
	nodes := fs.Int("nodes", 5, "engines per seed")
	steps := fs.Int("steps", 40, "workload and fault steps per seed (0: the test's default, 30)")
	procs := fs.Int("procs", runtime.GOMAXPROCS(0), "test processes at a time")
	batch := fs.Int("batch", 10, "seeds per test process")
	bin := fs.String("bin", "", "a built engine test binary (default: build one with go test -c)")
	race := fs.Bool("race", false, "build the test binary with the race detector")
	out := fs.String("out", "", "directory for the output of seeds that diverged (default: a temporary one)")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on one seed's test time, wall clock")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *seeds < 1 || *nodes < 2 || *procs < 1 || *batch < 1 {
		return errors.New("-seeds, -procs and -batch must be at least 1, -nodes at least 2")
	}
	tmp, err := os.MkdirTemp("", "docsbench-chaos-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if *out == "" {
		*out = filepath.Join(os.TempDir(), fmt.Sprintf("docsbench-chaos-%d", os.Getpid()))
	}
	if *bin == "" {
		*bin = filepath.Join(tmp, "engine.test")
		build := []string{"test", "-c", "-o", *bin}
		if *race {
			build = append(build, "-race")
		}
		build = append(build, "github.com/docsnode/docsnode/engine")
		cmd := exec.Command("go", build...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build the engine tests: %w", err)
		}
	}
	r := &chaosRunner{bin: *bin, nodes: *nodes, steps: *steps, timeout: *timeout, out: *out}

	start := time.Now()
	var batches [][]uint64
	for i := range *seeds {
		s := *first + uint64(i)
		if i%*batch == 0 {
			batches = append(batches, nil)
		}
		batches[len(batches)-1] = append(batches[len(batches)-1], s)
	}
	work := make(chan []uint64)
	var wg sync.WaitGroup
	for range min(*procs, len(batches)) {
		wg.Go(func() {
			for b := range work {
				r.runBatch(b)
			}
		})
	}
	for _, b := range batches {
		work <- b
	}
	close(work)
	wg.Wait()

	sum := summarizeChaos(r.results)
	for _, res := range r.results {
		if !res.ok {
			fmt.Fprintf(os.Stderr, "seed %d diverged (%s): go test ./engine -run 'TestChaos$' -chaos.seed=%d -chaos.nodes=%d%s -v\n",
				res.seed, res.why, res.seed, *nodes, stepsFlag(*steps))
		}
	}
	if sum.diverged > 0 {
		fmt.Fprintf(os.Stderr, "output of the seeds that diverged: %s\n", *out)
	}
	fmt.Printf("chaos seeds=%d nodes=%d converged=%d diverged=%d p50_converge_s=%.3f p99_converge_s=%.3f max_converge_s=%.3f p99_live_s=%.3f wall_s=%.0f\n",
		sum.seeds, *nodes, sum.converged, sum.diverged, sum.p50, sum.p99, sum.max, sum.liveP99, time.Since(start).Seconds())
	return nil
}

func stepsFlag(steps int) string {
	if steps == 0 {
		return ""
	}
	return fmt.Sprintf(" -chaos.steps=%d", steps)
}

// chaosResult is one seed's outcome.
type chaosResult struct {
	seed     uint64
	ok       bool          // converged on the model, and nothing else failed
	converge time.Duration // virtual time from the heal to convergence
	live     time.Duration // then, virtual time for one write per node to reach every node
	why      string        // when not ok
}

// chaosRunner runs batches of seeds in test processes and collects their
// results.
type chaosRunner struct {
	bin          string
	nodes, steps int
	timeout      time.Duration
	out          string

	mu      sync.Mutex
	results []chaosResult
}

// runBatch runs seeds, consecutive, in one process. Seeds it did not
// report (the process died) run again one by one; one that dies alone
// diverged.
func (r *chaosRunner) runBatch(seeds []uint64) {
	got, output := r.run(seeds[0], len(seeds))
	for _, s := range seeds {
		res, ok := got[s]
		if !ok && len(seeds) > 1 {
			r.runBatch([]uint64{s})
			continue
		}
		if !ok {
			res = chaosResult{seed: s, why: "the test process died"}
		}
		if !res.ok {
			r.keep(s, output)
		}
		r.mu.Lock()
		r.results = append(r.results, res)
		r.mu.Unlock()
		fmt.Fprintf(os.Stderr, "seed %d: ok=%t converge=%v %s\n", s, res.ok, res.converge, res.why)
	}
}

// run runs count seeds from first in one test process and returns the
// results it printed, by seed, and its output.
func (r *chaosRunner) run(first uint64, count int) (map[uint64]chaosResult, []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout*time.Duration(count))
	defer cancel()
	args := []string{
		"-test.run", "^TestChaos$", "-test.v", "-test.parallel", "1",
		"-test.timeout", (r.timeout * time.Duration(count)).String(),
		"-chaos.first", strconv.FormatUint(first, 10), "-chaos.count", strconv.Itoa(count),
		"-chaos.nodes", strconv.Itoa(r.nodes),
	}
	if r.steps > 0 {
		args = append(args, "-chaos.steps", strconv.Itoa(r.steps))
	}
	cmd := exec.CommandContext(ctx, r.bin, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	_ = cmd.Run() // a failing seed fails the process; its result line says which
	return parseChaosResults(buf.Bytes()), buf.Bytes()
}

// keep writes a diverged seed's process output under the output directory.
func (r *chaosRunner) keep(seed uint64, output []byte) {
	if err := os.MkdirAll(r.out, 0o755); err != nil {
		return
	}
	_ = os.WriteFile(filepath.Join(r.out, fmt.Sprintf("seed-%d.txt", seed)), output, 0o644)
}

// chaosResultLine matches the line TestChaos logs for each seed.
var chaosResultLine = regexp.MustCompile(`chaos-result seed=(\d+) .*converged=(true|false) converge_ms=(\d+) ok=(true|false)(?: live_ms=(\d+))?`)

// parseChaosResults reads the chaos-result lines of a test's -v output.
func parseChaosResults(out []byte) map[uint64]chaosResult {
	got := make(map[uint64]chaosResult)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		m := chaosResultLine.FindSubmatch(sc.Bytes())
		if m == nil {
			continue
		}
		seed, err := strconv.ParseUint(string(m[1]), 10, 64)
		if err != nil {
			continue
		}
		ms, _ := strconv.ParseInt(string(m[3]), 10, 64)
		res := chaosResult{seed: seed, converge: time.Duration(ms) * time.Millisecond}
		if len(m[5]) > 0 {
			ms, _ := strconv.ParseInt(string(m[5]), 10, 64)
			res.live = time.Duration(ms) * time.Millisecond
		}
		switch {
		case string(m[2]) != "true":
			res.why = "not converged"
		case string(m[4]) != "true":
			res.why = "converged, but the test failed"
		default:
			res.ok = true
		}
		got[seed] = res
	}
	return got
}

// chaosSummary is what the last line reports.
type chaosSummary struct {
	seeds, converged, diverged int
	p50, p99, max              float64 // seconds, over the converged seeds
	liveP99                    float64 // seconds, over the seeds that passed
}

func summarizeChaos(results []chaosResult) chaosSummary {
	s := chaosSummary{seeds: len(results)}
	var times, live []float64
	for _, r := range results {
		if r.ok {
			s.converged++
			times = append(times, r.converge.Seconds())
			live = append(live, r.live.Seconds())
		} else {
			s.diverged++
		}
	}
	slices.Sort(times)
	slices.Sort(live)
	s.liveP99 = percentile(live, 0.99)
	s.p50, s.p99 = percentile(times, 0.50), percentile(times, 0.99)
	if len(times) > 0 {
		s.max = times[len(times)-1]
	}
	return s
}

// percentile is the nearest-rank percentile p (0 < p ≤ 1) of sorted, 0 if
// it is empty.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
