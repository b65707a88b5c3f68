package session

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// FuzzClientID: Claude Code's metadata.user_id in either form, or anything
// else, never panics; the JSON form gives encoding/json's session_id.
// Seeds are the two forms Claude Code sends.
func FuzzClientID(f *testing.F) {
	for _, s := range []string{
		`{"device_id":"5f0c1e4b9a7d4c2e8b6f3a1d0e9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a3f2e1d0","account_uuid":"0b6f3c1e-2a4d-4b8e-9c7f-1d2e3f4a5b6c","session_id":"6c1f2e3d-4b5a-4c6d-8e7f-9a0b1c2d3e4f"}`,
		"user_5f0c1e4b9a7d4c2e8b6f3a1d0e9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a3f2e1d0_account_0b6f3c1e-2a4d-4b8e-9c7f-1d2e3f4a5b6c_session_6c1f2e3d-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
		"user_abc_account__session_", `{"session_id":1}`, "{", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uid string) {
		id, source := ClientID(uid, http.Header{})
		if (id == "") != (source == "") {
			t.Fatalf("%q: id %q source %q", uid, id, source)
		}
		trimmed := strings.TrimSpace(uid)
		if strings.HasPrefix(trimmed, "{") {
			var v struct {
				SessionID string `json:"session_id"`
			}
			want := ""
			if json.Unmarshal([]byte(trimmed), &v) == nil {
				want = strings.TrimSpace(v.SessionID)
			}
			if id != want {
				t.Fatalf("%q: id %q, encoding/json %q", uid, id, want)
			}
		}
	})
}
