package rpc

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// connectCodes is the one map from docs/design.md's error codes to gRPC/connect
// codes. conflict (a withdrawal id replayed with other fields) maps to
// AlreadyExists: the thing the caller tries to create exists already, and
// retrying will not help, which is what Aborted would suggest.
var connectCodes = map[holdfast.Code]connect.Code{
	holdfast.InvalidArgument:    connect.CodeInvalidArgument,
	holdfast.NotFound:           connect.CodeNotFound,
	holdfast.PermissionDenied:   connect.CodePermissionDenied,
	holdfast.Immutable:          connect.CodeFailedPrecondition,
	holdfast.FailedPrecondition: connect.CodeFailedPrecondition,
	holdfast.Conflict:           connect.CodeAlreadyExists,
	holdfast.Unauthenticated:    connect.CodeUnauthenticated,
	holdfast.ResourceExhausted:  connect.CodeResourceExhausted,
}

// internalMessage is all a caller learns of an unexpected failure; the
// cause goes to the log.
const internalMessage = "internal error; the server log has the details"

// present turns any error a handler returns into the connect error the
// caller sees: the closest connect code, the domain code leading the
// message ("immutable: a panic_lock cannot be lifted ..."), and an
// ErrorDetail with code, field, message and causes. Anything that is not a
// domain error is logged and replaced by a generic internal error.
func present(ctx context.Context, log *slog.Logger, procedure string, err error) *connect.Error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce // already presented (auth, body checks) or connect's own
	}
	switch {
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	var he *holdfast.Error
	if !errors.As(err, &he) || connectCodes[he.Code] == 0 {
		log.ErrorContext(ctx, "internal error", "procedure", procedure, "err", err)
		he = &holdfast.Error{Code: holdfast.Internal, Message: internalMessage}
	}
	return domainError(he)
}

// domainError builds the connect error for a domain error.
func domainError(he *holdfast.Error) *connect.Error {
	code, ok := connectCodes[he.Code]
	if !ok {
		code = connect.CodeInternal
	}
	ce := connect.NewError(code, errors.New(he.Error()))
	if d, err := connect.NewErrorDetail(pbErrorDetail(he)); err == nil {
		ce.AddDetail(d)
	}
	return ce
}

// pbErrorDetail is the detail every error carries: in a connect error's
// details, or in place of an answer in a batch.
func pbErrorDetail(he *holdfast.Error) *holdfastv1.ErrorDetail {
	d := &holdfastv1.ErrorDetail{Code: string(he.Code), Message: he.Message, Causes: pbCauses(he.Causes)}
	if he.Field != "" {
		d.Field = &he.Field
	}
	return d
}

// DetailError is the error a server would have answered with detail d: for
// a client that receives details in place of answers (CheckStream).
func DetailError(d *holdfastv1.ErrorDetail) *connect.Error {
	code, ok := connectCodes[holdfast.Code(d.GetCode())]
	if !ok {
		code = connect.CodeInternal
	}
	he := holdfast.Error{Code: holdfast.Code(d.GetCode()), Field: d.GetField(), Message: d.GetMessage()}
	ce := connect.NewError(code, errors.New(he.Error()))
	if cd, err := connect.NewErrorDetail(d); err == nil {
		ce.AddDetail(cd)
	}
	return ce
}

// errorf is holdfast.Errorf presented as a connect error, for the layers
// that answer before a handler runs.
func errorf(code holdfast.Code, field, format string, args ...any) *connect.Error {
	return domainError(holdfast.Errorf(code, field, format, args...))
}

// ErrorInfo reads back what a Holdfast server said in err: the docs/design.md
// code, the offending field and the message. Errors that did not come from
// a Holdfast handler (the server is down, a proxy answered) report the
// connect code's name.
func ErrorInfo(err error) (code, field, message string) {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return string(holdfast.Internal), "", err.Error()
	}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		if ed, ok := v.(*holdfastv1.ErrorDetail); ok {
			return ed.GetCode(), ed.GetField(), ed.GetMessage()
		}
	}
	return ce.Code().String(), "", ce.Message()
}
