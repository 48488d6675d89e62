package rpc

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// rawFrame is one gRPC message, left encoded, for the bridge.
type rawFrame struct{ b []byte }

// rawCodec is grpc-go's proto codec, except that a *rawFrame passes
// through as it is: the bridge relays messages it never decodes.
type rawCodec struct{}

var protoCodec = encoding.GetCodecV2("proto")

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(*rawFrame); ok {
		return mem.BufferSlice{mem.SliceBuffer(f.b)}, nil
	}
	return protoCodec.Marshal(v)
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if f, ok := v.(*rawFrame); ok {
		f.b = data.Materialize()
		return nil
	}
	return protoCodec.Unmarshal(data, v)
}

// bridge serves a gRPC call that has no native handler by handing it, as
// the HTTP/2 request it came as, to the HTTP API (connect's gRPC
// protocol), in-process: messages are relayed as frames, headers as
// metadata, and connect's trailers become the call's status.
type bridge struct{ next http.Handler }

func (b bridge) serve(_ any, st grpc.ServerStream) error {
	ctx := st.Context()
	method, _ := grpc.Method(ctx)
	md, _ := metadata.FromIncomingContext(ctx)
	body, feed := io.Pipe()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://bridge"+method, body)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.ContentLength = -1
	for k, vs := range md {
		switch k {
		case ":authority":
			r.Host = vs[0]
		case "grpc-encoding", "grpc-accept-encoding", "content-length":
			// grpc-go has decompressed the messages; answers go back plain
			// and grpc-go compresses them as the client asked.
		default:
			if !strings.HasPrefix(k, ":") {
				r.Header[http.CanonicalHeaderKey(k)] = vs
			}
		}
	}
	if r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/grpc")
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		r.RemoteAddr = p.Addr.String()
	}
	go func() {
		var f rawFrame
		var prefix [5]byte
		for {
			if err := st.RecvMsg(&f); err != nil {
				if err == io.EOF {
					err = nil
				}
				feed.CloseWithError(err)
				return
			}
			binary.BigEndian.PutUint32(prefix[1:], uint32(len(f.b)))
			if _, err := feed.Write(prefix[:]); err != nil {
				return // the handler stopped reading
			}
			if _, err := feed.Write(f.b); err != nil {
				return
			}
		}
	}()
	w := &bridgeWriter{st: st, header: http.Header{}}
	b.next.ServeHTTP(w, r)
	body.Close() // unblocks the relay if the handler answered early
	return w.finish()
}

// bridgeWriter is the http.ResponseWriter of a bridged call: it sends
// each gRPC frame the handler writes as a message.
type bridgeWriter struct {
	st      grpc.ServerStream
	header  http.Header
	code    int
	pending bytes.Buffer
	sent    bool // headers went out
	err     error
}

func (w *bridgeWriter) Header() http.Header { return w.header }

func (w *bridgeWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *bridgeWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.err != nil {
		return 0, w.err
	}
	if w.code != http.StatusOK {
		// A plain HTTP error (the gate's 503): its text is the message.
		w.pending.Write(p[:min(len(p), max(0, 1024-w.pending.Len()))])
		return len(p), nil
	}
	w.pending.Write(p)
	for w.pending.Len() >= 5 {
		n := int(binary.BigEndian.Uint32(w.pending.Bytes()[1:5]))
		if w.pending.Len() < 5+n {
			break
		}
		if !w.sent {
			w.sent = true
			if w.err = w.st.SendHeader(headerMetadata(w.header)); w.err != nil {
				return 0, w.err
			}
		}
		frame := bytes.Clone(w.pending.Bytes()[5 : 5+n])
		w.pending.Next(5 + n)
		if w.err = w.st.SendMsg(&rawFrame{frame}); w.err != nil {
			return 0, w.err
		}
	}
	return len(p), nil
}

// Flush is a no-op: each message is sent as it is complete.
func (w *bridgeWriter) Flush() {}

// finish is the call's status: connect's grpc-status trailers (or, for a
// trailers-only answer, headers), else the HTTP status as gRPC clients
// read it (a 503 from the gate is unavailable).
func (w *bridgeWriter) finish() error {
	if w.err != nil {
		return w.err
	}
	trailer := http.Header{}
	for k, vs := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			trailer[http.CanonicalHeaderKey(name)] = vs
		}
	}
	if trailer.Get("Grpc-Status") == "" && !w.sent {
		trailer = w.header // a trailers-only answer
	}
	if md := headerMetadata(trailer); len(md) > 0 {
		w.st.SetTrailer(md)
	}
	code := trailer.Get("Grpc-Status")
	if code == "" {
		msg := strings.TrimSpace(w.pending.String())
		if msg == "" {
			msg = http.StatusText(w.code)
		}
		return status.Error(httpStatusCode(w.code), msg)
	}
	if code == "0" {
		return nil
	}
	if bin := trailer.Get("Grpc-Status-Details-Bin"); bin != "" {
		if raw, err := connect.DecodeBinaryHeader(bin); err == nil {
			var st spb.Status
			if proto.Unmarshal(raw, &st) == nil {
				return status.FromProto(&st).Err()
			}
		}
	}
	n, _ := strconv.Atoi(code)
	msg, err := url.PathUnescape(trailer.Get("Grpc-Message"))
	if err != nil {
		msg = trailer.Get("Grpc-Message")
	}
	return status.Error(codes.Code(n), msg)
}

// headerMetadata is what the handler set besides the protocol's own.
func headerMetadata(h http.Header) metadata.MD {
	md := metadata.MD{}
	for k, vs := range h {
		lk := strings.ToLower(k)
		switch {
		case strings.HasPrefix(k, http.TrailerPrefix), strings.HasPrefix(lk, "grpc-"),
			lk == "content-type", lk == "content-length", lk == "date", lk == "trailer":
			continue
		}
		md[lk] = vs
	}
	return md
}

// httpStatusCode is the gRPC code a client gives an HTTP status that came
// without one (gRPC's HTTP-to-gRPC status mapping).
func httpStatusCode(code int) codes.Code {
	switch code {
	case http.StatusBadRequest:
		return codes.Internal
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.Unimplemented
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return codes.Unavailable
	}
	return codes.Unknown
}
