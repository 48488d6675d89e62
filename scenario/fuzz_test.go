package scenario_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/holdfast/holdfast/scenario"
)

// FuzzParse: any bytes as a scenario file give a file or a clean error.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/scenarios/*.yaml")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = scenario.Parse("fuzz.yaml", data)
	})
}
