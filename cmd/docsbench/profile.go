package main

import (
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// cpuProfileFromEnv starts a CPU profile written to the file that the
// environment variable env names, when it is set. stop ends the profile
// and closes the file; without env it does nothing.
func cpuProfileFromEnv(env string) (stop func(), err error) {
	return startToFile(env, pprof.StartCPUProfile, pprof.StopCPUProfile)
}

// traceFromEnv is cpuProfileFromEnv for an execution trace.
func traceFromEnv(env string) (stop func(), err error) {
	return startToFile(env, trace.Start, trace.Stop)
}

func startToFile(env string, start func(io.Writer) error, end func()) (func(), error) {
	path := os.Getenv(env)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { end(); f.Close() }, nil
}
