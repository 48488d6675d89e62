package sqlstore

import (
	"strconv"
	"strings"
	"sync"
)

// rebound caches Rebind's results: the store's query texts are a bounded
// set, and rewriting one on every call would cost more than the lookup.
var rebound sync.Map // string -> string

// Rebind rewrites a query's ? placeholders as $1, $2, ... for PostgreSQL,
// once per query text. A ? inside a quoted literal or identifier is kept.
func Rebind(query string) string {
	if v, ok := rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	out := b.String()
	rebound.Store(query, out)
	return out
}
