// Package scenario runs scenario files: timed scripts of events, commands
// and expectations played against the real engine, on the embedded store,
// under a virtual clock (docs/scenarios.md, format v1).
package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/holdfast/holdfast"
)

// File is one scenario file.
type File struct {
	Name     string        `yaml:"name"`
	Policy   string        `yaml:"policy"`
	Start    string        `yaml:"start"`
	Staff    []StaffSpec   `yaml:"staff"`
	Accounts []AccountSpec `yaml:"accounts"`
	Steps    []Step        `yaml:"steps"`

	path  string
	start time.Time
	ats   []time.Duration
}

// StaffSpec is a staff member and their roles.
type StaffSpec struct {
	ID    string          `yaml:"id"`
	Roles []holdfast.Role `yaml:"roles"`
}

// AccountSpec is an account that exists at start.
type AccountSpec struct {
	ID              string            `yaml:"id"`
	CreatedAt       string            `yaml:"created_at"`
	LastActiveAt    string            `yaml:"last_active_at"`
	Tags            []holdfast.Tag    `yaml:"tags"`
	Factors         []holdfast.Factor `yaml:"factors"`
	KnownDevices    []string          `yaml:"known_devices"`
	KnownCountries  []string          `yaml:"known_countries"`
	TrustedContacts []string          `yaml:"trusted_contacts"`
}

// Step is one timed step: exactly one of Event, Do, Expect,
// ExpectWithdrawal, ExpectTags.
type Step struct {
	At               string            `yaml:"at"`
	Event            *Event            `yaml:"event"`
	Do               *Do               `yaml:"do"`
	Expect           *Expect           `yaml:"expect"`
	ExpectWithdrawal *ExpectWithdrawal `yaml:"expect_withdrawal"`
	ExpectTags       *ExpectTags       `yaml:"expect_tags"`
	Outcome          holdfast.Outcome  `yaml:"outcome"`
	ExpectError      holdfast.Code     `yaml:"expect_error"`
	As               string            `yaml:"as"`
}

// Event is a signal another service reports, with the fields the event API
// takes.
type Event struct {
	Type            string            `yaml:"type"`
	ID              string            `yaml:"id"`
	Account         string            `yaml:"account"`
	Device          string            `yaml:"device"`
	Country         string            `yaml:"country"`
	IP              string            `yaml:"ip"`
	Session         string            `yaml:"session"`
	Address         string            `yaml:"address"`
	Asset           string            `yaml:"asset"`
	Amount          string            `yaml:"amount"`
	USDValue        string            `yaml:"usd_value"`
	SourceAddress   string            `yaml:"source_address"`
	SourceRisk      string            `yaml:"source_risk"`
	OrdersPerMinute *float64          `yaml:"orders_per_minute"`
	FailureRate     *float64          `yaml:"failure_rate"`
	OtherAccounts   []string          `yaml:"other_accounts"`
	NoticePeriod    string            `yaml:"notice_period"`
	Severity        string            `yaml:"severity"`
	Status          string            `yaml:"status"`
	CaseRef         string            `yaml:"case_ref"`
	Disclose        *bool             `yaml:"disclose"`
	APIKey          string            `yaml:"api_key"`
	Permissions     []string          `yaml:"permissions"`
	IPWhitelist     []string          `yaml:"ip_whitelist"`
	Factors         []holdfast.Factor `yaml:"factors"`
	Email           string            `yaml:"email"`
	Phone           string            `yaml:"phone"`
}

// Do is a command as the API would run it.
type Do struct {
	Op          string            `yaml:"op"`
	Actor       string            `yaml:"actor"`
	Account     string            `yaml:"account"`
	Duration    string            `yaml:"duration"`
	Kind        holdfast.Kind     `yaml:"kind"`
	Restriction string            `yaml:"restriction"`
	By          string            `yaml:"by"`
	Until       string            `yaml:"until"`
	Reason      string            `yaml:"reason"`
	Disclose    *bool             `yaml:"disclose"`
	Request     string            `yaml:"request"`
	Device      string            `yaml:"device"`
	Factors     []holdfast.Factor `yaml:"factors"`
	Type        string            `yaml:"type"`
	Case        string            `yaml:"case"`
	Decision    string            `yaml:"decision"`
	KeepHeld    *struct {
		Asset  string `yaml:"asset"`
		Amount string `yaml:"amount"`
	} `yaml:"keep_held"`
	Address     string   `yaml:"address"`
	Network     string   `yaml:"network"`
	Label       string   `yaml:"label"`
	APIKey      string   `yaml:"api_key"`
	IPWhitelist []string `yaml:"ip_whitelist"`
	Code        string   `yaml:"code"`
	Contact     string   `yaml:"contact"`
	Inviter     string   `yaml:"inviter"`
	UnlockDelay string   `yaml:"unlock_delay"`
	Session     string   `yaml:"session"`
	// Policy is a policy file (relative to the scenario) for policy_push;
	// Version a version's hash or the name a policy_push step kept with
	// `as` ($name), for policy_shadow, policy_activate, policy_rollback.
	Policy  string `yaml:"policy"`
	Version string `yaml:"version"`
}

// Expect is a decision check.
type Expect struct {
	Account  string          `yaml:"account"`
	Action   holdfast.Action `yaml:"action"`
	Device   string          `yaml:"device"`
	Session  string          `yaml:"session"`
	APIKey   string          `yaml:"api_key"`
	IP       string          `yaml:"ip"`
	Effect   string          `yaml:"effect"`
	Kinds    []holdfast.Kind `yaml:"kinds"`
	NotKinds []holdfast.Kind `yaml:"not_kinds"`
	View     holdfast.View   `yaml:"view"`
}

// ExpectWithdrawal is a withdrawal authorization and its expected outcome
// (the step's Outcome).
type ExpectWithdrawal struct {
	Account          string `yaml:"account"`
	ID               string `yaml:"id"`
	Asset            string `yaml:"asset"`
	Amount           string `yaml:"amount"`
	USDValue         string `yaml:"usd_value"`
	Address          string `yaml:"address"`
	AvailableBalance string `yaml:"available_balance"`
}

// ExpectTags checks an account's tags.
type ExpectTags struct {
	Account string         `yaml:"account"`
	Has     []holdfast.Tag `yaml:"has"`
	Lacks   []holdfast.Tag `yaml:"lacks"`
}

// InvalidError reports a scenario file that cannot run, naming the file,
// the step index (-1 outside the steps) and the field.
type InvalidError struct {
	File  string
	Step  int
	Field string
	Msg   string
}

func (e *InvalidError) Error() string {
	if e.Step >= 0 {
		return fmt.Sprintf("%s: step %d: %s: %s", e.File, e.Step, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Field, e.Msg)
}

// Load reads and checks a scenario file. Unknown keys anywhere are errors.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &InvalidError{File: path, Step: -1, Field: "file", Msg: err.Error()}
	}
	return Parse(path, data)
}

// Parse checks a scenario given its name and content.
func Parse(path string, data []byte) (*File, error) {
	f := &File{path: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil {
		return nil, &InvalidError{File: path, Step: -1, Field: "yaml", Msg: yamlMessage(err)}
	}
	return f, f.check()
}

func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return te.Errors[0]
	}
	return err.Error()
}

func (f *File) invalid(step int, field, format string, args ...any) error {
	return &InvalidError{File: f.path, Step: step, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (f *File) check() error {
	if f.Name == "" {
		return f.invalid(-1, "name", "is required")
	}
	if f.Start == "" {
		return f.invalid(-1, "start", "is required (RFC 3339)")
	}
	start, err := time.Parse(time.RFC3339, f.Start)
	if err != nil {
		return f.invalid(-1, "start", "must be RFC 3339, e.g. 2026-04-01T00:00:00Z")
	}
	f.start = start.UTC()
	if err := holdfast.CheckTime("start", f.start); err != nil {
		return f.invalid(-1, "start", "%s", holdfast.ErrorMessage(err))
	}
	for i, s := range f.Staff {
		if holdfast.ValidateID("id", s.ID) != nil {
			return f.invalid(-1, fmt.Sprintf("staff[%d].id", i), "is required")
		}
		for _, r := range s.Roles {
			if !r.Valid() {
				return f.invalid(-1, fmt.Sprintf("staff[%d].roles", i), "unknown role %q", r)
			}
		}
	}
	for i, a := range f.Accounts {
		if holdfast.ValidateID("id", a.ID) != nil {
			return f.invalid(-1, fmt.Sprintf("accounts[%d].id", i), "is required")
		}
		for _, t := range []struct{ name, v string }{{"created_at", a.CreatedAt}, {"last_active_at", a.LastActiveAt}} {
			if _, err := parseTime(t.v); err != nil {
				return f.invalid(-1, fmt.Sprintf("accounts[%d].%s", i, t.name), "must be RFC 3339")
			}
		}
	}
	var prev time.Duration
	for i := range f.Steps {
		s := &f.Steps[i]
		at, err := offset(s.At)
		if err != nil {
			return f.invalid(i, "at", "%v", err)
		}
		if at < prev {
			return f.invalid(i, "at", "goes back in time (%s after %s)", s.At, prev)
		}
		if err := holdfast.CheckTime("at", f.start.Add(at)); err != nil {
			return f.invalid(i, "at", "%s", holdfast.ErrorMessage(err))
		}
		prev = at
		f.ats = append(f.ats, at)
		n := 0
		for _, set := range []bool{s.Event != nil, s.Do != nil, s.Expect != nil, s.ExpectWithdrawal != nil, s.ExpectTags != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return f.invalid(i, "step", "needs exactly one of event, do, expect, expect_withdrawal, expect_tags")
		}
		if err := f.checkStep(i, s); err != nil {
			return err
		}
	}
	return nil
}

func (f *File) checkStep(i int, s *Step) error {
	if s.ExpectError != "" && !validCode(s.ExpectError) {
		return f.invalid(i, "expect_error", "unknown error code %q", s.ExpectError)
	}
	switch {
	case s.Event != nil:
		if s.Event.Type == "" {
			return f.invalid(i, "event.type", "is required")
		}
		if s.Event.Account == "" {
			return f.invalid(i, "event.account", "is required")
		}
	case s.Do != nil:
		if !knownOp(s.Do.Op) {
			return f.invalid(i, "do.op", "unknown op %q", s.Do.Op)
		}
		if s.Do.Actor == "" {
			return f.invalid(i, "do.actor", "is required")
		}
	case s.Expect != nil:
		if _, ok := holdfast.ParseEffect(s.Expect.Effect); !ok && s.ExpectError == "" {
			return f.invalid(i, "expect.effect", "must be allow, review or deny")
		}
	case s.ExpectWithdrawal != nil:
		switch s.Outcome {
		case holdfast.Approve, holdfast.ReviewOutcome, holdfast.DenyOutcome:
		case "":
			if s.ExpectError == "" {
				return f.invalid(i, "outcome", "expect_withdrawal needs outcome (approve, review or deny) or expect_error")
			}
		default:
			return f.invalid(i, "outcome", "must be approve, review or deny")
		}
	}
	if s.Outcome != "" && s.ExpectWithdrawal == nil {
		return f.invalid(i, "outcome", "belongs only with expect_withdrawal")
	}
	return nil
}

// counts reports whether a step holds an expectation and so counts once.
func (s *Step) counts() bool {
	return s.Expect != nil || s.ExpectWithdrawal != nil || s.ExpectTags != nil || s.ExpectError != ""
}

func validCode(c holdfast.Code) bool {
	switch c {
	case holdfast.InvalidArgument, holdfast.NotFound, holdfast.PermissionDenied, holdfast.Immutable,
		holdfast.FailedPrecondition, holdfast.Conflict, holdfast.Unauthenticated, holdfast.ResourceExhausted:
		return true
	}
	return false
}

// offset parses an offset from start: a Go duration plus "d" for days.
func offset(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("is required (an offset from start such as 0s, 36h or 7d)")
	}
	if s == "0" {
		return 0, nil
	}
	d, err := holdfast.ParseDuration(s)
	if err != nil || d == holdfast.Permanent {
		return 0, fmt.Errorf("%q is not an offset like 90s, 36h, 7d or 2d3h", s)
	}
	return d.Std(), nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err
}

// policyPath resolves the file's policy relative to the file.
func (f *File) policyPath() string { return f.relative(f.Policy) }

// relative is a path the file names, from the file's own directory.
func (f *File) relative(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(f.path), p)
}
