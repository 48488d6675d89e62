package rpc

import (
	"context"
	"encoding/json"
	"fmt"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/backtest"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// GetBacktest serves the backtest a push started for a version.
func (h *policies) GetPolicyBacktest(ctx context.Context, req *connect.Request[holdfastv1.GetPolicyBacktestRequest]) (*connect.Response[holdfastv1.GetPolicyBacktestResponse], error) {
	if _, err := staffActor(ctx); err != nil {
		return nil, err
	}
	examples := int(req.Msg.Examples)
	switch {
	case examples == 0:
		examples = 20
	case examples < 0 || examples > 1000:
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "examples", "examples is 1 to 1000, not %d", req.Msg.Examples)
	}
	v, b, err := h.engine.PolicyBacktest(ctx, req.Msg.Version)
	if err != nil {
		return nil, err
	}
	out := &holdfastv1.PolicyBacktest{
		Version: b.Version, Baseline: b.Baseline, State: string(b.State), Since: pbTime(b.Since), Events: b.Events, Capped: b.Capped,
		StartedAt: pbTime(b.StartedAt), UpdatedAt: pbTime(b.UpdatedAt), FinishedAt: pbTime(b.FinishedAt), Error: b.Error,
		Kinds: []*holdfastv1.PolicyBacktestKind{}, RuleErrors: []*holdfastv1.PolicyBacktestRuleError{},
	}
	if len(b.Report) > 0 {
		var rep backtest.Report
		if err := json.Unmarshal(b.Report, &rep); err != nil {
			return nil, fmt.Errorf("the backtest of %s holds a report that does not decode: %w", b.Version, err)
		}
		out.Accounts, out.InvalidEvents = int32(rep.Accounts), rep.InvalidCount
		for _, k := range rep.Kinds {
			out.Kinds = append(out.Kinds, &holdfastv1.PolicyBacktestKind{
				Kind: string(k.Kind), Baseline: int32(k.Baseline), Candidate: int32(k.Candidate),
				OnlyBaselineCount: int32(len(k.OnlyBaseline)), OnlyCandidateCount: int32(len(k.OnlyCandidate)),
				OnlyBaseline: k.OnlyBaseline[:min(examples, len(k.OnlyBaseline))], OnlyCandidate: k.OnlyCandidate[:min(examples, len(k.OnlyCandidate))],
			})
		}
		for _, re := range rep.RuleErrors {
			out.RuleErrors = append(out.RuleErrors, &holdfastv1.PolicyBacktestRuleError{Policy: re.Policy, Rule: re.Rule, Count: re.Count, FailsClosed: re.FailsClosed, LastError: re.LastError})
		}
	}
	return connect.NewResponse(&holdfastv1.GetPolicyBacktestResponse{Version: pbPolicyVersion(v), Backtest: out}), nil
}
