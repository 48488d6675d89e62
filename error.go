package holdfast

import (
	"errors"
	"fmt"
)

// Code is an error code from docs/design.md. Every error a caller sees carries one.
type Code string

const (
	InvalidArgument    Code = "invalid_argument"
	NotFound           Code = "not_found"
	PermissionDenied   Code = "permission_denied"
	Immutable          Code = "immutable"
	FailedPrecondition Code = "failed_precondition"
	Conflict           Code = "conflict"
	Unauthenticated    Code = "unauthenticated"
	ResourceExhausted  Code = "resource_exhausted"
	// Internal is never returned with detail: the presenter logs the cause
	// and the caller sees a generic message.
	Internal Code = "internal"
)

// Error is the one domain error. Message is safe to show to the caller;
// Field names the offending request field, if any. Causes carries the
// decision causes when an operation was blocked by active restrictions
// (failed_precondition), already in the view of whoever asked.
type Error struct {
	Code    Code
	Field   string
	Message string
	Causes  []Cause
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns err's code: the Code of an *Error in its chain, or
// Internal for anything else (and "" for nil).
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// ErrorMessage returns the message of an *Error in err's chain, or
// err's text for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// ErrorField returns the field named by an *Error in err's chain.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
