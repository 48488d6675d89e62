package sqlstore

import "testing"

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT a FROM t WHERE b = ? AND c < ?`:    `SELECT a FROM t WHERE b = $1 AND c < $2`,
		`SELECT '?', "a?" FROM t WHERE b = ?`:      `SELECT '?', "a?" FROM t WHERE b = $1`,
		`SELECT 1`:                                 `SELECT 1`,
		`VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`: `VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
	} {
		for range 2 { // the second time from the cache
			if got := Rebind(in); got != want {
				t.Errorf("Rebind(%q) = %q, want %q", in, got, want)
			}
		}
	}
}
