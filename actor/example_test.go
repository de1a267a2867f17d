package actor_test

import (
	"context"
	"fmt"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/replica"
)

func Example() {
	store, _ := replica.OpenStore("", replica.StoreOptions{InMemory: true})
	a, _ := actor.Open(store, actor.Config{}) // a owns store from here on
	defer a.Close()

	ctx := context.Background()
	doc, _ := a.CreateDoc(ctx, replica.Durable)
	me, _ := a.CreateAuthor(ctx)
	sub, _ := a.Subscribe(ctx, doc.ID())
	defer sub.Close()

	for _, kv := range [][2]string{{"fruit/apple", "red"}, {"fruit/pear", "green"}, {"veg/leek", "white"}} {
		v := []byte(kv[1])
		a.InsertLocal(ctx, doc.ID(), me, []byte(kv[0]), replica.HashContent(v), uint64(len(v)))
	}
	for e, err := range a.Query(ctx, doc.ID(), replica.Query{KeyPrefix: []byte("fruit/")}) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s (%d bytes)\n", e.Key, e.Len)
	}
	ev := <-sub.C()
	fmt.Println(ev.Kind, string(ev.Entry.Key))
	// Output:
	// fruit/apple (3 bytes)
	// fruit/pear (5 bytes)
	// insert-local fruit/apple
}
