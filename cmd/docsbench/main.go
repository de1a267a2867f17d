// Command docsbench runs docsnode's benchmark scenarios, one subcommand
// each. Every scenario prints its figures on its last line as key=value
// pairs, so runs can be collected and compared by script.
//
//	docsbench insert -n 200000 -mode batched -writers 1
//	docsbench reconcile -n 1000000 -d 10
//	docsbench hostile -seconds 60
//
// DOCSBENCH_CPUPROFILE=file writes a CPU profile of the run.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
)

// scenarios maps a subcommand to its runner; each file adds its own in init.
var scenarios = map[string]func(args []string) error{}

// hiddenScenarios are subcommands that scenarios start as child processes
// of their own, left out of the usage.
var hiddenScenarios = map[string]bool{}

func main() {
	if len(os.Args) < 2 || scenarios[os.Args[1]] == nil {
		names := make([]string, 0, len(scenarios))
		for n := range scenarios {
			if hiddenScenarios[n] {
				continue
			}
			names = append(names, n)
		}
		slices.Sort(names)
		fmt.Fprintf(os.Stderr, "usage: docsbench <scenario> [flags]\nscenarios: %s\n", strings.Join(names, ", "))
		os.Exit(2)
	}
	// DOCSBENCH_CPUPROFILE=file writes a CPU profile of the scenario.
	if path := os.Getenv("DOCSBENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	err := scenarios[os.Args[1]](os.Args[2:])
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintf(os.Stderr, "docsbench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
