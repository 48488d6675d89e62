package rpc_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
)

// FuzzAPI posts arbitrary bodies, as JSON and as protobuf, to every
// procedure of the API with a token that may call them all: every answer
// is a clean client error or a success, never a server error, a panic or a
// hang.
func FuzzAPI(f *testing.F) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Logger: log})
	if err != nil {
		f.Fatal(err)
	}
	if err := db.PutStaff(ctx, &holdfast.StaffMember{ID: "root", Roles: []holdfast.Role{holdfast.RoleAdmin, holdfast.RoleCompliance, holdfast.RoleSupport, holdfast.RoleLELiaison}}); err != nil {
		f.Fatal(err)
	}
	secret, tok, err := rpc.NewToken(holdfast.Scopes, "root", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	if err := db.PutToken(ctx, tok); err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewServer(rpc.Handler(rpc.Config{Engine: eng, Staff: db, Logger: log}))
	f.Cleanup(srv.Close)
	var procs []string
	protoregistry.GlobalFiles.RangeFilesByPackage("holdfast.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				procs = append(procs, "/"+string(sd.FullName())+"/"+string(sd.Methods().Get(j).Name()))
			}
		}
		return true
	})
	slices.Sort(procs)
	for i := range procs {
		f.Add(uint8(i), []byte(`{"account":"u1","action":"withdraw","kind":"panic_lock","duration":"72h"}`), false)
		f.Add(uint8(i), []byte{0x0a, 0x02, 'u', '1', 0x12, 0x05, 't', 'r', 'a', 'd', 'e'}, true)
	}
	f.Add(uint8(0), []byte(`{"events":[{"type":"login","account":"u1"}]}`), false)
	f.Add(uint8(1), []byte(`[{"a":`), false)
	client := &http.Client{Timeout: 10 * time.Second}
	f.Fuzz(func(t *testing.T, proc uint8, body []byte, binary bool) {
		p := procs[int(proc)%len(procs)]
		req, _ := http.NewRequest(http.MethodPost, srv.URL+p, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		if binary {
			req.Header.Set("Content-Type", "application/proto")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: no answer (%v)", p, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s answered %d to %q: %s", p, resp.StatusCode, body, out)
		}
	})
}
