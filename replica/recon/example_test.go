package recon_test

import (
	"fmt"

	"github.com/docsnode/docsnode/replica/recon"
)

// item makes an item whose id starts with the two bytes of n. Real ids are
// hashes; the protocol needs them unique.
func item(ts uint64, n uint16) recon.Item {
	return recon.Item{Timestamp: ts, ID: [32]byte{byte(n >> 8), byte(n)}}
}

func Example() {
	alice := recon.NewIndex()
	bob := recon.NewIndex()
	for i := range 1000 {
		it := item(uint64(1000+i), uint16(i))
		alice.Insert(it)
		bob.Insert(it)
	}
	alice.Insert(item(1500, 0xaaaa)) // only Alice has this one
	bob.Insert(item(1700, 0xbbbb))   // and only Bob this one

	ini, _ := recon.NewSession(alice, recon.DefaultConfig())
	resp, _ := recon.NewSession(bob, recon.DefaultConfig())
	msg, _ := ini.Initiate()
	for msg != nil {
		reply, _, _, err := resp.Reconcile(msg)
		if err != nil {
			panic(err)
		}
		var have, need [][32]byte
		msg, have, need, err = ini.Reconcile(reply)
		if err != nil {
			panic(err)
		}
		for _, id := range have {
			fmt.Printf("Bob lacks %x\n", id[:2])
		}
		for _, id := range need {
			fmt.Printf("Alice lacks %x\n", id[:2])
		}
	}
	fmt.Println("round trips:", ini.Rounds())
	// Output:
	// Bob lacks aaaa
	// Alice lacks bbbb
	// round trips: 2
}
