package rpc

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestSplitRoutes: on one port, gRPC (grpc-go's client and connect's)
// reaches the grpc-go server, while JSON over h2c, HTTP/1.1 and gRPC-Web
// reach the HTTP server; before GRPC is called everything is HTTP's.
func TestSplitRoutes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	split := SplitGRPC(ln)
	// The HTTP side answers every request with 418: whatever reaches it
	// is recognisable.
	hs := NewHTTPServer("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusTeapot)
	}))
	go hs.Serve(split.HTTP())
	defer hs.Close()
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	grpcGo := func() error {
		conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	connectGRPC := func() error {
		_, err := grpchealth.NewClient(H2CClient(), url, connect.WithGRPC()).Check(ctx, &grpchealth.CheckRequest{})
		return err
	}
	if err := grpcGo(); err == nil || !strings.Contains(err.Error(), "418") {
		t.Fatalf("before GRPC: %v, want the HTTP side's 418", err)
	}

	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	grpcLn := split.GRPC()
	go gs.Serve(grpcLn)
	defer gs.Stop()
	if err := grpcGo(); err != nil {
		t.Fatalf("grpc-go client: %v", err)
	}
	if err := connectGRPC(); err != nil {
		t.Fatalf("connect gRPC client: %v", err)
	}
	for name, c := range map[string]*http.Client{"h2c": H2CClient(), "HTTP/1.1": http.DefaultClient} {
		for _, ct := range []string{"application/json", "application/grpc-web+proto"} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/grpc.health.v1.Health/Check", strings.NewReader("{}"))
			req.Header.Set("Content-Type", ct)
			res, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", name, ct, err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusTeapot {
				t.Fatalf("%s %s: %s, want the HTTP side's 418", name, ct, res.Status)
			}
		}
	}
}
