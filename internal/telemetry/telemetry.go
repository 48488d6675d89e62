// Package telemetry turns on OpenTelemetry tracing: spans exported over
// OTLP/HTTP, W3C trace context taken from callers. Off (the default) it
// installs nothing: OpenTelemetry's global tracer stays the no-op one, and
// the API adds no interceptor.
package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// EndpointEnv is the standard variable naming the OTLP endpoint.
const EndpointEnv = "OTEL_EXPORTER_OTLP_ENDPOINT"

// Tracer is the tracer Holdfast's packages start their spans with.
func Tracer() trace.Tracer { return otel.Tracer("github.com/holdfast/holdfast") }

// Setup exports spans to endpoint (an OTLP/HTTP URL such as
// http://collector:4318), or to $OTEL_EXPORTER_OTLP_ENDPOINT when endpoint
// is empty; with neither it does nothing and reports false. shutdown
// flushes the spans still buffered.
func Setup(ctx context.Context, endpoint, version string) (on bool, shutdown func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	if endpoint == "" && os.Getenv(EndpointEnv) == "" {
		return false, none, nil
	}
	var opts []otlptracehttp.Option
	if endpoint != "" {
		// A base URL, as $OTEL_EXPORTER_OTLP_ENDPOINT is: the traces go to
		// its /v1/traces unless it names a path of its own.
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return false, none, fmt.Errorf("the OTLP endpoint must be an http:// or https:// URL, not %q", endpoint)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces"
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return false, none, err
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", "holdfast"), attribute.String("service.version", version)))
	if err != nil {
		return false, none, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return true, tp.Shutdown, nil
}

// End ends span, marked failed with err if there is one.
func End(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
