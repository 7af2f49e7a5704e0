package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mrredis/mrredis/client"
	"github.com/mrredis/mrredis/internal/model"
)

// Create an instance and wait until it is RUNNING with its replica in sync.
func Example() {
	c := client.New("http://localhost:5656")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v, err := c.Create(ctx, model.Spec{Name: "cache", MemoryMB: 512, Replicas: 1})
	if err != nil {
		log.Fatal(err) // e.g. an *client.APIError: "memory_mb 1 is out of range: use 16 to 262144"
	}
	fmt.Println("proxy port", v.ProxyPort)
	v, err = c.Wait(ctx, "cache", func(p model.InstanceView) {
		fmt.Println(p.State, p.ReplicasInSync, "of", p.Replicas, "replicas in sync")
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("master", v.Master)
}

// Follow every change of every instance.
func ExampleClient_Events() {
	c := client.New("http://localhost:5656")
	events, err := c.Events(context.Background())
	if err != nil {
		log.Fatal(err) // client.IsUnreachable(err) when no scheduler answers
	}
	for ev := range events {
		switch ev.Kind {
		case model.EventInstance:
			fmt.Println(ev.Name, ev.Instance.State)
		case model.EventFailover:
			fmt.Println(ev.Name, "failed over to", ev.Failover.NewAddr)
		case model.EventDeleted:
			fmt.Println(ev.Name, "deleted")
		}
	}
}
