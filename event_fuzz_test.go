package holdfast_test

import (
	"encoding/json"
	"testing"

	"github.com/holdfast/holdfast"
)

// FuzzEventJSON: any JSON body as an event decodes and validates cleanly;
// a valid one survives a round trip.
func FuzzEventJSON(f *testing.F) {
	f.Add([]byte(`{"type":"login","account":"u1","device":"d1","country":"DE","session":"s1"}`))
	f.Add([]byte(`{"type":"deposit","account":"u1","asset":"BTC","amount":"0.4","usd_value":"26000","source_risk":"mixer"}`))
	f.Add([]byte(`{"type":"api_key_created","account":"u1","api_key":"k1","permissions":["read"],"ip_whitelist":["10.0.0.0/8"]}`))
	f.Add([]byte(`{"type":"api_activity","account":"u1","orders_per_minute":1e308,"failure_rate":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev holdfast.Event
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		if ev.Validate() != nil {
			return
		}
		b, err := json.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		var back holdfast.Event
		if err := json.Unmarshal(b, &back); err != nil || back.Validate() != nil {
			t.Fatalf("a valid event did not survive a round trip: %s (%v)", b, err)
		}
	})
}
