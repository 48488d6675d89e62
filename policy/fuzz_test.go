package policy_test

import (
	"testing"

	"github.com/holdfast/holdfast/policy"
)

// FuzzParse: any bytes as a policy file give a policy or a clean error,
// never a panic; a policy that parses also compiles and answers.
func FuzzParse(f *testing.F) {
	f.Add(policy.DefaultYAML())
	f.Add([]byte("version: 1\nkinds: {}\n"))
	f.Add([]byte("kinds:\n  reduce_only:\n    blocks: {deny: [trade]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(data)
		if err != nil {
			_ = policy.FormatError("fuzz.yaml", err)
			return
		}
		for k := range p.Kinds {
			_ = p.Effects(k)
		}
	})
}
