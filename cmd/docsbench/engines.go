package main

import (
	"context"
	"net/netip"
	"sync"

	"github.com/docsnode/docsnode/engine"
)

// openEngines opens n engines listening on loopback; tweak, when set,
// adjusts node i's configuration first. closeAll closes every engine that
// opened, in parallel (each close waits on its gossip swarms), and is safe
// to call after an error.
func openEngines(ctx context.Context, n int, tweak func(i int, cfg *engine.Config)) (engines []*engine.Engine, closeAll func(), err error) {
	closeAll = func() {
		var wg sync.WaitGroup
		for _, e := range engines {
			wg.Go(func() { e.Close() })
		}
		wg.Wait()
	}
	for i := range n {
		cfg := engine.DefaultConfig("")
		cfg.Endpoint.ListenAddr = netip.MustParseAddrPort("127.0.0.1:0")
		if tweak != nil {
			tweak(i, &cfg)
		}
		e, err := engine.Open(ctx, cfg)
		if err != nil {
			return engines, closeAll, err
		}
		engines = append(engines, e)
	}
	return engines, closeAll, nil
}
