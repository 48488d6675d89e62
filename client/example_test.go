package client_test

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast/client"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// A gateway shares one Checker among all its goroutines: their checks go
// to the server together over one stream.
func ExampleClient_Checker() {
	ctx := context.Background()
	c, err := client.New(client.Config{URL: "http://127.0.0.1:7433", Token: "hf_...",
		HTTPClient: rpc.H2CClient(), Options: []connect.ClientOption{connect.WithGRPC()}})
	if err != nil {
		panic(err)
	}
	checks := c.Checker(ctx)
	defer checks.Close()
	d, err := checks.Check(ctx, &holdfastv1.CheckRequest{Account: "acct-1", Action: "trade"})
	if err != nil {
		fmt.Println(client.Code(err), client.Detail(err).GetField())
		return
	}
	fmt.Println(d.Effect)
}
